// Benchmarks write their tables into one section of docs/benchmarks.md, between markers, so
// each benchmark can be rerun without touching the others' figures.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "../src/devcluster/versions.js";

export function writeSection(name: string, body: string): string {
  const file = path.join(repoRoot, "docs", "benchmarks.md");
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  let text = existsSync(file)
    ? readFileSync(file, "utf8")
    : "# Benchmarks\n\nEvery figure here was measured by the command named in its section.\n";
  const block = `${start}\n${body.trim()}\n${end}`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  text = from >= 0 && to > from ? text.slice(0, from) + block + text.slice(to + end.length) : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, text);
  return file;
}

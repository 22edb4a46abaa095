// The folders of src/ show the architecture, so no two may depend on each other, directly or
// through others: a cycle would mean neither can be understood (or tested) without the other.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../../src/devcluster/versions.js";

const src = path.join(repoRoot, "src");

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : full.endsWith(".ts") ? [full] : [];
  });
}

/** folder → the other folders of src/ its files import from. */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const folder of readdirSync(src).filter((f) => statSync(path.join(src, f)).isDirectory())) {
    const deps = new Set<string>();
    for (const file of filesUnder(path.join(src, folder))) {
      for (const [, spec] of readFileSync(file, "utf8").matchAll(/from "(\.[^"]+)"/g)) {
        const target = path.relative(src, path.resolve(path.dirname(file), spec ?? "")).split(path.sep)[0];
        if (target && target !== folder && !target.startsWith("..")) deps.add(target);
      }
    }
    graph.set(folder, deps);
  }
  return graph;
}

/** Every cycle's folders, found by depth-first search. */
function cycles(graph: Map<string, Set<string>>): string[][] {
  const found: string[][] = [];
  const visit = (node: string, trail: string[]) => {
    for (const next of graph.get(node) ?? []) {
      const at = trail.indexOf(next);
      if (at >= 0) found.push([...trail.slice(at), next]);
      else visit(next, [...trail, next]);
    }
  };
  for (const node of graph.keys()) visit(node, [node]);
  return found;
}

describe("the folders of src/", () => {
  it("depend on each other without a cycle", () => {
    const graph = folderGraph();
    expect(graph.get("controller")?.has("notify")).toBe(true); // the graph is read at all
    expect(cycles(graph).map((c) => c.join(" → "))).toEqual([]);
  });

  it("finds a cycle when there is one (the check can fail)", () => {
    const graph = new Map([
      ["a", new Set(["b"])],
      ["b", new Set(["c"])],
      ["c", new Set(["a"])],
    ]);
    expect(cycles(graph)[0]).toEqual(["a", "b", "c", "a"]);
  });
});

// Bundles the dashboard's page (web/dashboard/) into dist/web: one script, one stylesheet and the
// page, all served by the dashboard itself, nothing from any other host. Run by `make build`.
import { copyFile, mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "dist", "web");
await mkdir(out, { recursive: true });
await build({
  entryPoints: { app: path.join(root, "web", "dashboard", "main.tsx") },
  outdir: out,
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022"],
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  logLevel: "warning",
});
await copyFile(path.join(root, "web", "dashboard", "index.html"), path.join(out, "index.html"));
const size = async (f) => (await stat(path.join(out, f))).size;
process.stdout.write(
  `dashboard bundle: app.js ${((await size("app.js")) / 1024).toFixed(1)} KiB, app.css ${((await size("app.css")) / 1024).toFixed(1)} KiB\n`,
);

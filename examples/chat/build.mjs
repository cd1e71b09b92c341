// Bundles the chat page into dist/ (served by `cargo run --example chat`): app.ts with the
// TypeScript client into one ES module, and index.html beside it. Type-checking is `tsc`'s job
// (`npm run build` runs both).
import { build } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";

const here = new URL(".", import.meta.url);
const out = new URL("dist/", here);
await mkdir(out, { recursive: true });
await build({
  entryPoints: [new URL("app.ts", here).pathname],
  outfile: new URL("app.js", out).pathname,
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  sourcemap: true,
  minify: true,
  logLevel: "warning",
});
await copyFile(new URL("index.html", here), new URL("index.html", out));
console.log(`built ${out.pathname}`);

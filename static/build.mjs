// Copies the browser builds of samsyn's npm dependencies into dist/, which Flask serves
// under /static/dist/. No bundling: the pages load these files and plain ES modules.
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "node_modules");
const dist = join(here, "dist");

const copies = [
  ["openseadragon/build/openseadragon/openseadragon.min.js", "openseadragon/openseadragon.min.js"],
  ["openseadragon/build/openseadragon/images", "openseadragon/images"],
  ["socket.io-client/dist/socket.io.min.js", "socket.io/socket.io.min.js"],
  // The annotation layer's spatial index (UMD build: importing it defines self.RBush).
  ["rbush/rbush.min.js", "rbush/rbush.min.js"],
];

rmSync(dist, { recursive: true, force: true });
for (const [from, to] of copies) {
  const target = join(dist, to);
  mkdirSync(dirname(target), { recursive: true });
  cpSync(join(modules, from), target, { recursive: true });
  console.log(`dist/${to}`);
}

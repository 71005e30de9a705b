// The npm registry this project is installed from here mirrors only Linux builds of a few packages, so
// `npm install` drops their other-platform optional dependencies from package-lock.json and `npm ci`
// then refuses the lock. This adds those entries back (os/cpu only, no tarball: npm skips them on
// platforms they do not match). Run after any `npm install` that changes biome or turbo.
import { readFileSync, writeFileSync } from "node:fs";

const lockPath = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(lockPath, "utf8"));
const platform = {
  "@biomejs/cli-android-arm64": [["android"], ["arm64"]],
  "@biomejs/cli-android-x64": [["android"], ["x64"]],
  "@biomejs/cli-darwin-arm64": [["darwin"], ["arm64"]],
  "@biomejs/cli-darwin-x64": [["darwin"], ["x64"]],
  "@biomejs/cli-linux-arm64-musl": [["linux"], ["arm64"], ["musl"]],
  "@biomejs/cli-linux-x64-musl": [["linux"], ["x64"], ["musl"]],
  "@biomejs/cli-win32-arm64": [["win32"], ["arm64"]],
  "@biomejs/cli-win32-x64": [["win32"], ["x64"]],
  "@turbo/darwin-64": [["darwin"], ["x64"]],
  "@turbo/darwin-arm64": [["darwin"], ["arm64"]],
  "@turbo/windows-64": [["win32"], ["x64"]],
  "@turbo/windows-arm64": [["win32"], ["arm64"]],
};
let added = 0;
for (const parent of Object.values(lock.packages)) {
  for (const [name, version] of Object.entries(parent.optionalDependencies ?? {})) {
    const spec = platform[name];
    const key = `node_modules/${name}`;
    if (!spec || lock.packages[key]) continue;
    const [os, cpu, libc] = spec;
    lock.packages[key] = { version, cpu, dev: parent.dev, ...(libc ? { libc } : {}), optional: true, os };
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))),
);
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lock-platforms: added ${added} entries`);

/// <reference lib="webworker" />
// Hashes files off the page's thread: { id, file } in, { id, sha256 } or { id, error } out.
import { Sha256 } from "./sha256.ts";

const WHOLE = 64 * 1024 * 1024;
const SLICE = 8 * 1024 * 1024;

async function hash(file: File): Promise<string> {
  if (file.size <= WHOLE) {
    const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  const h = new Sha256();
  for (let at = 0; at < file.size; at += SLICE)
    h.update(new Uint8Array(await file.slice(at, Math.min(file.size, at + SLICE)).arrayBuffer()));
  return h.hex();
}

self.onmessage = async (e: MessageEvent<{ id: number; file: File }>) => {
  const { id, file } = e.data;
  try {
    self.postMessage({ id, sha256: await hash(file) });
  } catch (err) {
    self.postMessage({ id, error: (err as Error).message ?? String(err) });
  }
};

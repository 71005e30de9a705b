// A hashing thread of HashPool: reads each file it is sent with blocking I/O (this thread does nothing
// else) and answers its sha256, its size and its modification time, or why it could not be read.
import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { parentPort } from "node:worker_threads";

const buf = Buffer.allocUnsafe(1 << 20);

parentPort.on("message", (jobs) => {
  parentPort.postMessage(jobs.map(hashOne));
});

function hashOne({ id, path }) {
  let fd;
  try {
    fd = openSync(path, "r");
    const st = fstatSync(fd);
    if (!st.isFile()) return { id, error: "EISDIR", message: "not a regular file" };
    const h = createHash("sha256");
    let size = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      size += n;
    }
    return { id, sha256: h.digest("hex"), size, mtimeMs: st.mtimeMs };
  } catch (err) {
    return { id, error: err.code ?? "EIO", message: err.message };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * An embedded gateway without workers (PGlite + the local object store, as `docfleet serve` has them),
 * for tests/bench/upload.ts: the upload path alone, with no processing competing for the cores.
 *
 *   node --import tsx tests/bench/upload-gateway.ts <data-dir>    (prints "ready <url>"; SIGTERM stops)
 */
import { embeddedGateway } from "../helpers/upload.ts";

const gateway = await embeddedGateway(process.argv[2] ?? "");
process.stdout.write(`ready ${gateway.url}\n`);
process.once("SIGTERM", () => {
  void gateway.stop().then(() => process.exit(0));
});

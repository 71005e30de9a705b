import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DependencyUnavailableError, isStorageUnavailableError, Outages, outageOf } from "@docfleet/pipeline";
import { LocalObjectStore } from "@docfleet/pipeline/adapters/objectstore/local";
import { tagOutages } from "@docfleet/pipeline/composition/outage-tagging";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Issue 16: `serve`'s own data folder briefly unavailable. A file-system error that says the local
// store's folder cannot take writes (full, read-only, not writable, failing) is an outage of the store,
// not the document's failure; the store's probe writes, so that the breaker sees it (a stat of an absent
// key answers even on a full or read-only disk). tests/e2e/serve-data-folder.test.ts runs it end to end.

/** An error as node:fs makes it. */
const fsError = (code: string, syscall = "open") =>
  Object.assign(new Error(`${code}: failed, ${syscall} '/data/objects/.tmp/x'`), {
    code,
    syscall,
    errno: -1,
  });

describe("file-system errors of the store's folder", () => {
  it.each(["ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "EIO", "EMFILE", "ENFILE"])(
    "%s is the folder unavailable",
    (code) => {
      expect(isStorageUnavailableError(fsError(code))).toBe(true);
      expect(isStorageUnavailableError(new Error("wrapped", { cause: fsError(code, "write") }))).toBe(true);
    },
  );

  it("a missing object, a document's bad input or a code without a system call is not", () => {
    expect(isStorageUnavailableError(fsError("ENOENT"))).toBe(false);
    expect(isStorageUnavailableError(new Error("EACCES in a file name"))).toBe(false);
    expect(isStorageUnavailableError(Object.assign(new Error("x"), { code: "EACCES" }))).toBe(false);
    // Not an outage of any dependency by itself: only the store's own methods are tagged with it.
    expect(outageOf(fsError("ENOSPC"))).toBeNull();
  });

  it("is tagged as the store's outage on the store's port only", async () => {
    const failing = { put: async () => Promise.reject(fsError("ENOSPC", "write")) };
    const store = tagOutages(failing, "store");
    const err = await store.put().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyUnavailableError);
    expect((err as DependencyUnavailableError).dependency).toBe("store");
    expect(outageOf(err)).toBe("store");
    // The same error from the models' port stays the document's (a model reading a file is its business).
    const models = tagOutages(failing, "models");
    expect(await models.put().catch((e: unknown) => e)).not.toBeInstanceOf(DependencyUnavailableError);
  });
});

describe("the local store's probe", () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "docfleet-store-probe-"));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("writes, so that a folder that cannot take writes opens the store's breaker, and closes it when it can", async () => {
    const store = new LocalObjectStore({ root, publicUrl: "http://127.0.0.1:1", secret: "s".repeat(32) });
    await store.setup();
    await store.probe();
    const outages = new Outages(
      { store: () => store.probe() },
      { warn: () => {}, info: () => {} },
      {
        minProbeMs: 10,
        maxProbeMs: 20,
      },
    );
    try {
      // The folder where every write starts is not a folder any more (root writes through mode bits,
      // so this test takes writes away this way; serve-data-folder.test.ts uses modes as nobody).
      await rm(join(root, ".tmp"), { recursive: true });
      await writeFile(join(root, ".tmp"), "");
      await expect(store.probe()).rejects.toThrow();
      expect(await outages.confirm(new DependencyUnavailableError("store", fsError("EACCES")))).toBe("store");
      expect(outages.down()).toEqual(["store"]);
      await rm(join(root, ".tmp"));
      await store.setup();
      // The breaker probes again by itself and closes: nothing to poll, whenUp resolves.
      expect(await outages.whenUp(["store"])).toBe(true);
      expect(outages.down()).toEqual([]);
    } finally {
      outages.close();
    }
  });
});

import { mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalObjectStore } from "@docfleet/pipeline/adapters/objectstore/local";
import { describe, expect, it } from "vitest";
import { objectStoreContract, postUpload } from "./contracts/object-store.contract.ts";

/** A local store behind a bare HTTP server (the gateway mounts the same handler). */
async function localFixture() {
  const root = await mkdtemp(join(tmpdir(), "docfleet-objects-"));
  let store!: LocalObjectStore;
  const server = createServer((req, res) => {
    void store.handleHttp(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  store = new LocalObjectStore({ root, publicUrl: url, secret: "s".repeat(32) });
  return {
    store,
    root,
    url,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await rm(root, { recursive: true, force: true });
    },
  };
}

objectStoreContract("local", localFixture);

describe("local object store signatures", () => {
  it("refuses tampered, expired and re-keyed uploads and downloads", async () => {
    const fx = await localFixture();
    try {
      await fx.store.setup();
      const body = Buffer.from("data");
      const t = await fx.store.createUploadTarget("t/d/original", { maxSize: 100, ttlSeconds: 60 });
      // another key with the same signature
      expect((await postUpload(t, body, { ...t.fields, key: "t/other/original" })).status).toBe(403);
      // a larger size than signed
      expect((await postUpload(t, body, { ...t.fields, maxSize: "1000000" })).status).toBe(403);
      // an expired target
      const old = await fx.store.createUploadTarget("t/d/original", { maxSize: 100, ttlSeconds: -1 });
      expect((await postUpload(old, body)).status).toBe(403);
      // a path that tries to leave the root
      const evil = await fx.store
        .createUploadTarget("t/d/original", { maxSize: 100, ttlSeconds: 60 })
        .then((x) => x);
      expect(
        (await postUpload(evil, body, { ...evil.fields, key: "../../etc/passwd" })).status,
      ).toBeGreaterThanOrEqual(400);
      // no body but fields
      const noFile = await fetch(t.url, { method: "POST", body: new URLSearchParams(t.fields) });
      expect(noFile.status).toBe(400);
      expect(await fx.store.stat("t/d/original")).toBeNull();
      // temporary files of refused uploads are gone
      expect(await readdir(join(fx.root, ".tmp"))).toEqual([]);

      await fx.store.put("t/d/original", body);
      const url = new URL(await fx.store.createDownloadUrl("t/d/original", { ttlSeconds: 60 }));
      url.searchParams.set("signature", "x".repeat(43));
      expect((await fetch(url)).status).toBe(403);
      const expired = await fx.store.createDownloadUrl("t/d/original", { ttlSeconds: -5 });
      expect((await fetch(expired)).status).toBe(403);
      const other = new URL(await fx.store.createDownloadUrl("t/d/original", { ttlSeconds: 60 }));
      other.pathname = "/objects/t/x/original";
      expect((await fetch(other)).status).toBe(403);
    } finally {
      await fx.close();
    }
  });
});

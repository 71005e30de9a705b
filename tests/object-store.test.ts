import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalObjectStore } from "@docfleet/pipeline/adapters/objectstore/local";
import { S3ObjectStore } from "@docfleet/pipeline/adapters/objectstore/s3";
import { describe, expect, it } from "vitest";
import { objectStoreContract, postUpload } from "./contracts/object-store.contract.ts";
import { startS3rver } from "./helpers/s3rver.ts";

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

/** s3rver in process on a free port, over a temporary folder; `setup()` creates the bucket. */
async function s3Fixture() {
  const s3 = await startS3rver();
  const store = new S3ObjectStore({
    endPoint: s3.endPoint,
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
    bucket: "docfleet-test",
  });
  return {
    store,
    // s3rver checks neither V4 signatures nor POST-policy conditions (content-length-range, key, expiry):
    // tests/object-store-s3-policy.test.ts checks the policy the adapter signs instead.
    policyNotEnforced: "s3rver does not enforce POST-policy conditions",
    close: () => s3.close(),
  };
}

objectStoreContract("s3 (s3rver)", s3Fixture);

describe("s3 object store against s3rver", () => {
  it("uploads 12 MiB in three presigned parts and reads it back whole", async () => {
    const fx = await s3Fixture();
    try {
      const { store } = fx;
      await store.setup();
      const body = randomBytes(12 * 1024 * 1024);
      const partSize = 5 * 1024 * 1024;
      const upload = await store.createMultipartUpload("t/big/original", {
        size: body.length,
        partSize,
        ttlSeconds: 300,
      });
      expect(upload.parts.map((p) => p.partNumber)).toEqual([1, 2, 3]);
      for (const { partNumber, url } of upload.parts) {
        const q = new URL(url).searchParams;
        expect([q.get("partNumber"), q.get("uploadId"), q.get("X-Amz-Expires")]).toEqual([
          String(partNumber),
          upload.uploadId,
          "300",
        ]);
      }
      expect(upload.expiresAt.getTime()).toBeGreaterThan(Date.now());
      // out of order on purpose: the part number, not the arrival, decides the position
      const etags = await Promise.all(
        [...upload.parts].reverse().map(async ({ partNumber, url }) => {
          const part = body.subarray((partNumber - 1) * partSize, partNumber * partSize);
          const res = await fetch(url, { method: "PUT", body: new Uint8Array(part) });
          expect(res.status).toBe(200);
          const etag = res.headers.get("etag");
          expect(etag).toBeTruthy();
          return { partNumber, etag: etag ?? "" };
        }),
      );
      expect(await store.stat("t/big/original")).toBeNull();
      await store.completeMultipartUpload("t/big/original", upload.uploadId, etags);
      expect(await store.stat("t/big/original")).toEqual({ size: body.length });
      expect((await store.get("t/big/original")).equals(body)).toBe(true);
    } finally {
      await fx.close();
    }
  });

  it("refuses part sizes S3 would refuse, before starting an upload", async () => {
    const fx = await s3Fixture();
    try {
      const { store } = fx;
      await expect(
        store.createMultipartUpload("t/big/original", { size: 12, partSize: 5, ttlSeconds: 60 }),
      ).rejects.toBeInstanceOf(RangeError);
      await expect(
        store.createMultipartUpload("t/big/original", {
          size: 10_001 * 5 * 1024 * 1024,
          partSize: 5 * 1024 * 1024,
          ttlSeconds: 60,
        }),
      ).rejects.toBeInstanceOf(RangeError);
    } finally {
      await fx.close();
    }
  });

  it("serves the download with the file name, stats, and tells a missing object from a failure", async () => {
    const fx = await s3Fixture();
    try {
      const { store } = fx;
      await store.setup();
      await store.setup();
      await store.put("t/d/original", Buffer.from("bytes"), "application/pdf");
      const url = await store.createDownloadUrl("t/d/original", { ttlSeconds: 60, fileName: "Été 2024.pdf" });
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-disposition")).toBe(
        `attachment; filename*=UTF-8''${encodeURIComponent("Été 2024.pdf")}`,
      );
      expect(await res.text()).toBe("bytes");
      expect(await store.stat("t/d/missing")).toBeNull();
      await store.delete("t/d/missing");
      // a missing bucket is a failure, not a missing object
      const other = new S3ObjectStore({
        endPoint: new URL(url).origin,
        accessKey: "S3RVER",
        secretKey: "S3RVER",
        bucket: "no-such-bucket",
      });
      await expect(other.get("t/d/original")).rejects.toMatchObject({ code: "NoSuchBucket" });
      for (const key of ["../etc/passwd", "/t/d", "t//d", "t/./d", ""]) {
        await expect(store.get(key)).rejects.toThrow(/invalid object key/);
        await expect(store.createUploadTarget(key, { maxSize: 1, ttlSeconds: 60 })).rejects.toThrow(
          /invalid object key/,
        );
      }
    } finally {
      await fx.close();
    }
  });
});

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

import { randomBytes } from "node:crypto";
import {
  MultipartPartError,
  MultipartUploadNotFoundError,
  ObjectNotFoundError,
  type ObjectStore,
} from "@docfleet/pipeline/ports/object-store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

export interface ObjectStoreFixture {
  store: ObjectStore;
  close(): Promise<void>;
  /**
   * Set, with the reason, when the server behind the store accepts uploads that break the signed policy
   * (a test double such as s3rver); the tests of refusal are then skipped, not passed.
   */
  policyNotEnforced?: string;
  /**
   * Multipart requests the server behind the store does not implement or does not check (a test
   * double), each with the reason; the tests that need them are then skipped, not passed.
   */
  multipartGaps?: {
    /** ListParts, which `signMultipartParts` sends. */
    listParts?: string;
    /** AbortMultipartUpload. */
    abort?: string;
    /** CompleteMultipartUpload's refusals: unknown upload, missing part, ETag mismatch, small part. */
    completeChecks?: string;
  };
}

const MiB = 1024 * 1024;

/** PUTs one part's bytes to its signed URL; answers the ETag the store gave back. */
export async function putPart(url: string, bytes: Buffer): Promise<string> {
  const res = await fetch(url, { method: "PUT", body: new Uint8Array(bytes) });
  if (res.status !== 200) throw new Error(`part PUT answered ${res.status}: ${await res.text()}`);
  const etag = res.headers.get("etag");
  if (!etag) throw new Error("part PUT answered no ETag");
  return etag;
}

/** Bytes of part `n` (1-based) of `body` cut into `partSize`. */
function slice(body: Buffer, partSize: number, n: number): Buffer {
  return body.subarray((n - 1) * partSize, n * partSize);
}

/** POSTs `body` to an upload target the way clients do: fields in order, then the file. */
export async function postUpload(
  target: { url: string; fields: Record<string, string> },
  body: Buffer,
  fields?: Record<string, string>,
) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields ?? target.fields)) form.append(k, v);
  form.append("file", new Blob([new Uint8Array(body)]), "file.bin");
  return fetch(target.url, { method: "POST", body: form });
}

/** The object store port's contract, run against every adapter. */
export function objectStoreContract(name: string, make: () => Promise<ObjectStoreFixture>) {
  describe(`object store contract: ${name}`, () => {
    let fx: ObjectStoreFixture;
    beforeAll(async () => {
      fx = await make();
      await fx.store.setup();
      await fx.store.setup(); // idempotent
    });
    afterAll(async () => {
      await fx.close();
    });

    it("puts, stats, gets, streams and deletes", async () => {
      const { store } = fx;
      await store.put("t1/d1/text.txt", "hello wörld");
      expect(await store.stat("t1/d1/text.txt")).toEqual({ size: Buffer.byteLength("hello wörld") });
      expect((await store.get("t1/d1/text.txt")).toString()).toBe("hello wörld");
      const chunks: Buffer[] = [];
      for await (const c of await store.getStream("t1/d1/text.txt")) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe("hello wörld");
      await store.put("t1/d1/text.txt", "replaced");
      expect((await store.get("t1/d1/text.txt")).toString()).toBe("replaced");
      await store.delete("t1/d1/text.txt");
      await store.delete("t1/d1/text.txt");
      expect(await store.stat("t1/d1/text.txt")).toBeNull();
      await expect(store.get("t1/d1/text.txt")).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expect(store.getStream("t1/d1/text.txt")).rejects.toBeInstanceOf(ObjectNotFoundError);
    });

    it("accepts an upload through its signed target and serves it through a signed URL", async () => {
      const { store } = fx;
      const body = Buffer.from("%PDF-1.4 fake bytes");
      const target = await store.createUploadTarget("t1/d2/original", {
        maxSize: body.length,
        ttlSeconds: 60,
      });
      expect(target.expiresAt.getTime()).toBeGreaterThan(Date.now());
      const res = await postUpload(target, body);
      expect(res.status).toBeLessThan(300);
      expect(await store.stat("t1/d2/original")).toEqual({ size: body.length });
      const url = await store.createDownloadUrl("t1/d2/original", { ttlSeconds: 60, fileName: "a.pdf" });
      const got = await fetch(url);
      expect(got.status).toBe(200);
      expect(Buffer.from(await got.arrayBuffer())).toEqual(body);
    });

    it("refuses an upload larger than the signed maximum and keeps nothing", async ({ skip }) => {
      skip(fx.policyNotEnforced !== undefined, fx.policyNotEnforced);
      const target = await fx.store.createUploadTarget("t1/d3/original", { maxSize: 10, ttlSeconds: 60 });
      const res = await postUpload(target, Buffer.alloc(11, 1));
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(await fx.store.stat("t1/d3/original")).toBeNull();
    });

    it("joins 12 MiB of parts PUT out of order, in parallel and one of them twice", async () => {
      const { store } = fx;
      const key = "t2/m1/original";
      const body = randomBytes(12 * MiB);
      const partSize = 5 * MiB;
      const upload = await store.createMultipartUpload(key, { size: body.length, partSize, ttlSeconds: 300 });
      expect(upload.parts.map((p) => p.partNumber)).toEqual([1, 2, 3]);
      expect(upload.expiresAt.getTime()).toBeGreaterThan(Date.now());
      const url = (n: number) => upload.parts[n - 1]!.url;
      // part 2 first with the wrong bytes: the retry below must replace them
      await putPart(url(2), Buffer.alloc(partSize, 7));
      // out of order on purpose: the part number, not the arrival, decides the position
      const etags = await Promise.all(
        [3, 2, 1].map(async (n) => ({
          partNumber: n,
          etag: await putPart(url(n), slice(body, partSize, n)),
        })),
      );
      expect(await store.stat(key)).toBeNull();
      await store.completeMultipartUpload(key, upload.uploadId, etags);
      expect(await store.stat(key)).toEqual({ size: body.length });
      expect((await store.get(key)).equals(body)).toBe(true);
    });

    it("takes a file under the minimum part size as one part", async () => {
      const { store } = fx;
      const body = Buffer.from("small but multipart");
      const upload = await store.createMultipartUpload("t2/m2/original", {
        size: body.length,
        partSize: 5 * MiB,
        ttlSeconds: 60,
      });
      expect(upload.parts).toHaveLength(1);
      const etag = await putPart(upload.parts[0]!.url, body);
      await store.completeMultipartUpload("t2/m2/original", upload.uploadId, [{ partNumber: 1, etag }]);
      expect((await store.get("t2/m2/original")).equals(body)).toBe(true);
    });

    it("re-signs a started upload after a crash, keeping the parts already uploaded", async ({ skip }) => {
      skip(fx.multipartGaps?.listParts !== undefined, fx.multipartGaps?.listParts);
      const { store } = fx;
      const key = "t2/m3/original";
      const body = randomBytes(11 * MiB);
      const partSize = 5 * MiB;
      const opts = { size: body.length, partSize, ttlSeconds: 300 };
      const first = await store.createMultipartUpload(key, opts);
      const etag1 = await putPart(first.parts[0]!.url, slice(body, partSize, 1));
      // the client crashed and lost its URLs; it kept the upload id and part 1's ETag
      const again = await store.signMultipartParts(key, first.uploadId, opts);
      expect(again.uploadId).toBe(first.uploadId);
      expect(again.parts.map((p) => p.partNumber)).toEqual([1, 2, 3]);
      expect(again.expiresAt.getTime()).toBeGreaterThan(Date.now());
      // another cut would misalign the part already stored
      await expect(
        store.signMultipartParts(key, first.uploadId, { ...opts, partSize: 6 * MiB }),
      ).rejects.toBeInstanceOf(MultipartPartError);
      const rest = await Promise.all(
        [2, 3].map(async (n) => ({
          partNumber: n,
          etag: await putPart(again.parts[n - 1]!.url, slice(body, partSize, n)),
        })),
      );
      await store.completeMultipartUpload(key, first.uploadId, [{ partNumber: 1, etag: etag1 }, ...rest]);
      expect((await store.get(key)).equals(body)).toBe(true);
      // completed: the upload is gone
      await expect(store.signMultipartParts(key, first.uploadId, opts)).rejects.toBeInstanceOf(
        MultipartUploadNotFoundError,
      );
    });

    it("does not re-sign an upload it does not know for that key", async ({ skip }) => {
      skip(fx.multipartGaps?.listParts !== undefined, fx.multipartGaps?.listParts);
      const { store } = fx;
      const opts = { size: 10, partSize: 5 * MiB, ttlSeconds: 60 };
      const other = await store.createMultipartUpload("t2/m4/original", opts);
      for (const id of ["0123456789abcdef0123456789abcdef", "not-an-upload", other.uploadId]) {
        await expect(store.signMultipartParts("t2/m5/original", id, opts)).rejects.toBeInstanceOf(
          MultipartUploadNotFoundError,
        );
      }
      await store.abortMultipartUpload("t2/m4/original", other.uploadId);
    });

    it("refuses to complete a missing part, a wrong ETag or a small middle part, and stays open", async ({
      skip,
    }) => {
      skip(fx.multipartGaps?.completeChecks !== undefined, fx.multipartGaps?.completeChecks);
      const { store } = fx;
      const key = "t2/m6/original";
      const body = randomBytes(6 * MiB);
      const partSize = 5 * MiB;
      const upload = await store.createMultipartUpload(key, { size: body.length, partSize, ttlSeconds: 300 });
      const [u1, u2] = upload.parts.map((p) => p.url) as [string, string];
      const etag1 = await putPart(u1, slice(body, partSize, 1));
      const fake = `"${"0".repeat(32)}"`;
      await expect(
        store.completeMultipartUpload(key, upload.uploadId, [
          { partNumber: 1, etag: etag1 },
          { partNumber: 2, etag: fake },
        ]),
      ).rejects.toBeInstanceOf(MultipartPartError);
      const etag2 = await putPart(u2, slice(body, partSize, 2));
      await expect(
        store.completeMultipartUpload(key, upload.uploadId, [
          { partNumber: 1, etag: etag1 },
          { partNumber: 2, etag: fake },
        ]),
      ).rejects.toBeInstanceOf(MultipartPartError);
      // a first part under 5 MiB: only the last may be that small
      const small = await putPart(u1, Buffer.from("tiny"));
      await expect(
        store.completeMultipartUpload(key, upload.uploadId, [
          { partNumber: 1, etag: small },
          { partNumber: 2, etag: etag2 },
        ]),
      ).rejects.toBeInstanceOf(MultipartPartError);
      expect(await store.stat(key)).toBeNull();
      // fixed: the upload was still open
      const fixed = await putPart(u1, slice(body, partSize, 1));
      await store.completeMultipartUpload(key, upload.uploadId, [
        { partNumber: 2, etag: etag2.replace(/"/g, "") }, // ETags match with or without quotes
        { partNumber: 1, etag: fixed },
      ]);
      expect((await store.get(key)).equals(body)).toBe(true);
      // not idempotent: completed, the upload is gone
      await expect(
        store.completeMultipartUpload(key, upload.uploadId, [
          { partNumber: 1, etag: fixed },
          { partNumber: 2, etag: etag2 },
        ]),
      ).rejects.toBeInstanceOf(MultipartUploadNotFoundError);
    });

    it("does not complete an upload it does not know for that key", async ({ skip }) => {
      skip(fx.multipartGaps?.completeChecks !== undefined, fx.multipartGaps?.completeChecks);
      const { store } = fx;
      const other = await store.createMultipartUpload("t2/m7/original", {
        size: 4,
        partSize: 5 * MiB,
        ttlSeconds: 60,
      });
      const etag = await putPart(other.parts[0]!.url, Buffer.from("four"));
      for (const id of ["0123456789abcdef0123456789abcdef", "not-an-upload", other.uploadId]) {
        await expect(
          store.completeMultipartUpload("t2/m8/original", id, [{ partNumber: 1, etag }]),
        ).rejects.toBeInstanceOf(MultipartUploadNotFoundError);
      }
      expect(await store.stat("t2/m8/original")).toBeNull();
    });

    it("aborts idempotently: the parts and URLs are gone, the upload unknown", async ({ skip }) => {
      const gap = fx.multipartGaps?.abort ?? fx.multipartGaps?.listParts ?? fx.multipartGaps?.completeChecks;
      skip(gap !== undefined, gap);
      const { store } = fx;
      const key = "t2/m9/original";
      const opts = { size: 6 * MiB, partSize: 5 * MiB, ttlSeconds: 300 };
      const upload = await store.createMultipartUpload(key, opts);
      const etag = await putPart(upload.parts[0]!.url, randomBytes(5 * MiB));
      await store.abortMultipartUpload(key, upload.uploadId);
      await store.abortMultipartUpload(key, upload.uploadId);
      await store.abortMultipartUpload(key, "0123456789abcdef0123456789abcdef");
      const late = await fetch(upload.parts[1]!.url, { method: "PUT", body: new Uint8Array(MiB) });
      expect(late.status).toBeGreaterThanOrEqual(400);
      await expect(
        store.completeMultipartUpload(key, upload.uploadId, [{ partNumber: 1, etag }]),
      ).rejects.toBeInstanceOf(MultipartUploadNotFoundError);
      await expect(store.signMultipartParts(key, upload.uploadId, opts)).rejects.toBeInstanceOf(
        MultipartUploadNotFoundError,
      );
      expect(await store.stat(key)).toBeNull();
    });

    it("refuses cuts S3 would refuse and malformed part lists, before any request", async () => {
      const { store } = fx;
      const key = "t2/m10/original";
      const bad = [
        { size: 12, partSize: 5 }, // several parts under 5 MiB
        { size: 10_001 * 5 * MiB, partSize: 5 * MiB }, // over 10,000 parts
        { size: 10, partSize: 0 },
        { size: 10, partSize: 6 * 1024 * MiB }, // over 5 GiB
        { size: -1, partSize: 5 * MiB },
        { size: 1.5, partSize: 5 * MiB },
      ];
      for (const cut of bad) {
        await expect(store.createMultipartUpload(key, { ...cut, ttlSeconds: 60 })).rejects.toBeInstanceOf(
          RangeError,
        );
        await expect(
          store.signMultipartParts(key, "0123456789abcdef0123456789abcdef", { ...cut, ttlSeconds: 60 }),
        ).rejects.toBeInstanceOf(RangeError);
      }
      const id = "0123456789abcdef0123456789abcdef";
      await expect(store.completeMultipartUpload(key, id, [])).rejects.toBeInstanceOf(RangeError);
      await expect(
        store.completeMultipartUpload(key, id, [{ partNumber: 0, etag: "x" }]),
      ).rejects.toBeInstanceOf(RangeError);
      await expect(
        store.completeMultipartUpload(key, id, [
          { partNumber: 1, etag: "x" },
          { partNumber: 1, etag: "y" },
        ]),
      ).rejects.toBeInstanceOf(MultipartPartError);
    });
  });
}

import { randomBytes } from "node:crypto";
import {
  attachmentDisposition,
  MultipartPartError,
  MultipartUploadNotFoundError,
  ObjectNotFoundError,
  type ObjectStore,
} from "@docfleet/pipeline/ports/object-store";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

export interface ObjectStoreFixture {
  /** Configured with `corsOrigins: [CORS_ORIGIN]` and `maxUploadBytes: MAX_UPLOAD_BYTES`. */
  store: ObjectStore;
  /**
   * The same adapter on the same storage (server and bucket, or folder) signing with a wrong secret:
   * the store must refuse whatever it signs.
   */
  wrongSecret: ObjectStore;
  /**
   * What the store itself can enforce beyond the contract's common part. S3 cannot bind a part's size
   * to a presigned UploadPart URL, nor refuse a presigned POST once its object was moved: docfleet
   * checks the size after completion and never reads an upload key again (services/intake.ts).
   */
  enforces: { partSizes: boolean; closedTargets: boolean };
  close(): Promise<void>;
}

const MiB = 1024 * 1024;
/** The page origin every fixture's store lets upload and download (CORS). */
export const CORS_ORIGIN = "https://console.docfleet.example";
/** Every fixture's store signs nothing larger (DOCFLEET_MAX_UPLOAD_BYTES). */
export const MAX_UPLOAD_BYTES = 64 * MiB;

/** PUTs one part's bytes to its signed URL; answers the ETag the store gave back. */
export async function putPart(url: string, bytes: Buffer): Promise<string> {
  const res = await fetch(url, { method: "PUT", body: new Uint8Array(bytes) });
  if (res.status !== 200) throw new Error(`part PUT answered ${res.status}: ${await res.text()}`);
  const etag = res.headers.get("etag");
  if (!etag) throw new Error("part PUT answered no ETag");
  return etag;
}

/** Another value of the same shape: a number grows, anything else has its last character changed. */
function tamper(value: string): string {
  if (/^\d+$/.test(value)) return String(Number(value) + 1000);
  const last = value.at(-1) ?? "";
  const swap = /[0-9]/.test(last)
    ? last === "0"
      ? "1"
      : "0"
    : /[a-z]/.test(last)
      ? last === "a"
        ? "b"
        : "a"
      : last === "A"
        ? "B"
        : "A";
  return value.slice(0, -1) + swap;
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

    it("lists and deletes a prefix: its objects and unfinished multipart uploads, never a neighbour's", async () => {
      const { store } = fx;
      await store.put("tp/dp/original", "a");
      await store.put("tp/dp/page-1.jpg", "b", "image/jpeg");
      await store.put("tp/dp2/original", "neighbour"); // shares the characters "tp/dp", not the folder
      await store.createMultipartUpload("tp/dp/upload", { size: 6 * MiB, partSize: 5 * MiB, ttlSeconds: 60 });
      expect(await store.list("tp/dp/")).toEqual(["tp/dp/original", "tp/dp/page-1.jpg", "tp/dp/upload"]);
      await store.deletePrefix("tp/dp/");
      await store.deletePrefix("tp/dp/"); // idempotent
      expect(await store.list("tp/dp/")).toEqual([]);
      expect(await store.stat("tp/dp/original")).toBeNull();
      expect(await store.list("tp/")).toEqual(["tp/dp2/original"]);
      for (const bad of ["", "tp", "tp/dp", "/", "../", "tp/../"])
        await expect(store.deletePrefix(bad), bad).rejects.toBeInstanceOf(RangeError);
      await store.deletePrefix("tp/");
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
      const url = await store.createDownloadUrl("t1/d2/original", {
        ttlSeconds: 60,
        fileName: "a/Été 2024.pdf",
      });
      const got = await fetch(url);
      expect(got.status).toBe(200);
      // the name we set, as we encode it, whatever the store
      expect(got.headers.get("content-disposition")).toBe(attachmentDisposition("Été 2024.pdf"));
      expect(got.headers.get("content-disposition")).toBe(
        "attachment; filename*=UTF-8''%C3%89t%C3%A9%202024.pdf",
      );
      expect(Buffer.from(await got.arrayBuffer())).toEqual(body);
    });

    it("refuses an upload under the signed minimum, and accepts the minimum", async () => {
      const target = await fx.store.createUploadTarget("t1/d4/original", {
        minSize: 5,
        maxSize: 10,
        ttlSeconds: 60,
      });
      const res = await postUpload(target, Buffer.alloc(4, 1));
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(await fx.store.stat("t1/d4/original")).toBeNull();
      expect((await postUpload(target, Buffer.alloc(5, 1))).status).toBeLessThan(300);
      expect(await fx.store.stat("t1/d4/original")).toEqual({ size: 5 });
    });

    it("refuses an upload whose Content-Type field is not the signed one, or is missing", async () => {
      const target = await fx.store.createUploadTarget("t1/d5/original", {
        maxSize: 100,
        ttlSeconds: 60,
        contentType: "application/pdf",
      });
      expect(target.fields["Content-Type"]).toBe("application/pdf");
      const body = Buffer.from("%PDF-1.7");
      const { "Content-Type": _signed, ...without } = target.fields;
      for (const fields of [{ ...target.fields, "Content-Type": "text/html" }, without]) {
        const res = await postUpload(target, body, fields);
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
      }
      expect(await fx.store.stat("t1/d5/original")).toBeNull();
      expect((await postUpload(target, body)).status).toBeLessThan(300);
      expect((await fx.store.get("t1/d5/original")).equals(body)).toBe(true);
    });

    it("refuses a key other than the signed one, in or out of the signed key's folder", async () => {
      const target = await fx.store.createUploadTarget("t1/d6/original", { maxSize: 100, ttlSeconds: 60 });
      for (const key of ["t1/d6/other", "t1/d7/original", "t2/d6/original", "t1/d6/original/x"]) {
        const res = await postUpload(target, Buffer.from("x"), { ...target.fields, key });
        expect(res.status, key).toBeGreaterThanOrEqual(400);
        expect(res.status, key).toBeLessThan(500);
        expect(await fx.store.stat(key)).toBeNull();
      }
      expect(await fx.store.stat("t1/d6/original")).toBeNull();
    });

    it("binds every field of the upload form: changing any one is refused and stores nothing", async () => {
      const target = await fx.store.createUploadTarget("t1/d8/original", {
        minSize: 1,
        maxSize: 100,
        ttlSeconds: 60,
        contentType: "application/pdf",
      });
      for (const name of Object.keys(target.fields)) {
        // `key`: above (another key is another object). `bucket` (S3): S3 takes the bucket from the URL
        // and matches the policy's bucket against it, not against this field; posting the form to
        // another bucket is refused (tests/object-store-rgw.test.ts).
        if (name === "key" || name === "bucket") continue;
        const res = await postUpload(target, Buffer.from("x"), {
          ...target.fields,
          [name]: tamper(target.fields[name]!),
        });
        expect(res.status, name).toBeGreaterThanOrEqual(400);
        expect(res.status, name).toBeLessThan(500);
      }
      expect(await fx.store.stat("t1/d8/original")).toBeNull();
    });

    it("binds the key, every query parameter and the file name of a download URL", async () => {
      const { store } = fx;
      await store.put("t1/d9/original", "secret bytes");
      await store.put("t1/d9/other", "other bytes");
      const url = new URL(
        await store.createDownloadUrl("t1/d9/original", { ttlSeconds: 60, fileName: "a.pdf" }),
      );
      expect((await fetch(url)).status).toBe(200);
      const refused = async (u: URL, what: string) => {
        const res = await fetch(u);
        await res.arrayBuffer();
        expect(res.status, what).toBeGreaterThanOrEqual(400);
        expect(res.status, what).toBeLessThan(500);
        expect(res.status, what).not.toBe(404);
      };
      for (const name of new Set(url.searchParams.keys())) {
        const u = new URL(url);
        u.searchParams.set(name, tamper(url.searchParams.get(name)!));
        await refused(u, name);
      }
      const other = new URL(url);
      other.pathname = other.pathname.replace(/original$/, "other");
      await refused(other, "another key");
    });

    it("refuses a part URL whose upload, part number or signature was changed", async () => {
      const { store } = fx;
      const key = "t2/m11/original";
      const upload = await store.createMultipartUpload(key, {
        size: 6 * MiB,
        partSize: 5 * MiB,
        ttlSeconds: 300,
      });
      const url = new URL(upload.parts[1]!.url);
      const variants: [string, URL][] = [...new Set(url.searchParams.keys())].map((name) => {
        const u = new URL(url);
        u.searchParams.set(name, tamper(url.searchParams.get(name)!));
        return [name, u];
      });
      // the other part's number in the path (local) or the query (S3)
      variants.push(["part 1's URL for part 2", new URL(upload.parts[0]!.url.replace(/\/1\?/, "/2?"))]);
      for (const [what, u] of variants) {
        if (u.href === upload.parts[0]!.url) continue; // S3: part number is a query parameter, tampered above
        const res = await fetch(u, { method: "PUT", body: new Uint8Array(MiB) });
        await res.arrayBuffer();
        expect(res.status, what).toBeGreaterThanOrEqual(400);
        expect(res.status, what).toBeLessThan(500);
      }
      // the genuine URL still works: nothing above was taken for part 2
      const etag2 = await putPart(url.href, randomBytes(MiB));
      const etag1 = await putPart(upload.parts[0]!.url, randomBytes(5 * MiB));
      await store.completeMultipartUpload(key, upload.uploadId, [
        { partNumber: 1, etag: etag1 },
        { partNumber: 2, etag: etag2 },
      ]);
      expect(await store.stat(key)).toEqual({ size: 6 * MiB });
    });

    it("refuses an upload target and a download URL signed an hour ago for a minute", async () => {
      const { store } = fx;
      /** Signs with the clock an hour back (only Date is faked: nothing waits), then restores it. */
      async function signedAnHourAgo<T>(sign: () => Promise<T>): Promise<T> {
        vi.useFakeTimers({ now: Date.now() - 3600_000, toFake: ["Date"] });
        try {
          return await sign();
        } finally {
          vi.useRealTimers();
        }
      }
      await store.put("t1/d10/original", "bytes");
      const target = await signedAnHourAgo(() =>
        store.createUploadTarget("t1/d10/upload", { maxSize: 100, ttlSeconds: 60 }),
      );
      expect(target.expiresAt.getTime()).toBeLessThan(Date.now());
      const res = await postUpload(target, Buffer.from("late"));
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(await store.stat("t1/d10/upload")).toBeNull();
      const url = await signedAnHourAgo(() => store.createDownloadUrl("t1/d10/original", { ttlSeconds: 60 }));
      const got = await fetch(url);
      await got.arrayBuffer();
      expect(got.status).toBe(403);
    });

    it("refuses what a wrong secret signed", async () => {
      const { store, wrongSecret } = fx;
      await store.put("t1/d11/original", "bytes");
      const target = await wrongSecret.createUploadTarget("t1/d11/upload", { maxSize: 100, ttlSeconds: 60 });
      const res = await postUpload(target, Buffer.from("x"));
      expect(res.status).toBe(403);
      expect(await store.stat("t1/d11/upload")).toBeNull();
      const got = await fetch(await wrongSecret.createDownloadUrl("t1/d11/original", { ttlSeconds: 60 }));
      await got.arrayBuffer();
      expect(got.status).toBe(403);
    });

    it("refuses an upload larger than the signed maximum and keeps nothing", async () => {
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

    it("re-signs a started upload after a crash, keeping the parts already uploaded", async () => {
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

    it("does not re-sign an upload it does not know for that key", async () => {
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

    it("refuses to complete a missing part, a wrong ETag or a small middle part, and stays open", async () => {
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
      // a first part under 5 MiB: only the last may be that small. A store that holds parts to their
      // size in the cut refuses the PUT; S3 takes it and refuses the completion.
      const tiny = await fetch(u1, { method: "PUT", body: new Uint8Array(Buffer.from("tiny")) });
      await tiny.arrayBuffer();
      if (fx.enforces.partSizes) {
        expect(tiny.status).toBe(400);
      } else {
        expect(tiny.status).toBe(200);
        await expect(
          store.completeMultipartUpload(key, upload.uploadId, [
            { partNumber: 1, etag: tiny.headers.get("etag")! },
            { partNumber: 2, etag: etag2 },
          ]),
        ).rejects.toBeInstanceOf(MultipartPartError);
      }
      expect(await store.stat(key)).toBeNull();
      // fixed: the upload was still open
      const fixed = await putPart(u1, slice(body, partSize, 1));
      await store.completeMultipartUpload(key, upload.uploadId, [
        { partNumber: 2, etag: etag2.replace(/"/g, "") }, // ETags match with or without quotes
        { partNumber: 1, etag: fixed },
      ]);
      expect((await store.get(key)).equals(body)).toBe(true);
      // completed: a repeat of the same completion is answered as the first (radosgw) or as an unknown
      // upload (local); either way the object stays as it was
      await store
        .completeMultipartUpload(key, upload.uploadId, [
          { partNumber: 1, etag: fixed },
          { partNumber: 2, etag: etag2 },
        ])
        .catch((err) => expect(err).toBeInstanceOf(MultipartUploadNotFoundError));
      expect((await store.get(key)).equals(body)).toBe(true);
      // other parts for a completed upload: unknown upload everywhere
      await expect(
        store.completeMultipartUpload(key, upload.uploadId, [{ partNumber: 1, etag: etag1 }]),
      ).rejects.toBeInstanceOf(MultipartUploadNotFoundError);
    });

    it("does not complete an upload it does not know for that key", async () => {
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

    it("aborts idempotently: the parts and URLs are gone, the upload unknown", async () => {
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

    // Issue 15, hole 5: sizes. The signed size binds a POST on every store; the store's own ceiling
    // (DOCFLEET_MAX_UPLOAD_BYTES) binds what it signs; a part's size binds the local store's part URLs.
    it("signs nothing over its maxUploadBytes", async () => {
      const { store } = fx;
      await expect(
        store.createUploadTarget("t3/s1/upload", { maxSize: MAX_UPLOAD_BYTES + 1, ttlSeconds: 60 }),
      ).rejects.toBeInstanceOf(RangeError);
      await expect(
        store.createMultipartUpload("t3/s1/upload", {
          size: MAX_UPLOAD_BYTES + 1,
          partSize: 8 * MiB,
          ttlSeconds: 60,
        }),
      ).rejects.toBeInstanceOf(RangeError);
      const ok = await store.createUploadTarget("t3/s1/upload", {
        maxSize: MAX_UPLOAD_BYTES,
        ttlSeconds: 60,
      });
      expect(ok.url).toBeTruthy();
    });

    it("binds an upload to its exact signed size: one byte more or less is refused and keeps nothing", async () => {
      const target = await fx.store.createUploadTarget("t3/s2/upload", {
        minSize: 1000,
        maxSize: 1000,
        ttlSeconds: 60,
      });
      for (const n of [999, 1001, 4 * MiB]) {
        const res = await postUpload(target, Buffer.alloc(n, 1));
        const text = await res.text();
        expect(res.status, `${n} bytes`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${n} bytes`).toBeLessThan(500);
        // S3's error document: the code says which limit
        expect(text, `${n} bytes`).toMatch(
          n < 1000 ? /<Code>EntityTooSmall<\/Code>/ : /<Code>EntityTooLarge<\/Code>/,
        );
        expect(await fx.store.stat("t3/s2/upload"), `${n} bytes`).toBeNull();
      }
      expect((await postUpload(target, Buffer.alloc(1000, 1))).status).toBeLessThan(300);
      expect(await fx.store.stat("t3/s2/upload")).toEqual({ size: 1000 });
    });

    it("a part over its place in the cut: refused by a store that binds part sizes, else visible in the object's size", async () => {
      const { store } = fx;
      const key = "t3/s3/upload";
      const size = 6 * MiB;
      const upload = await store.createMultipartUpload(key, { size, partSize: 5 * MiB, ttlSeconds: 300 });
      const etag1 = await putPart(upload.parts[0]!.url, randomBytes(5 * MiB));
      // part 2 holds 1 MiB in this cut; 8 MiB are sent
      const res = await fetch(upload.parts[1]!.url, { method: "PUT", body: new Uint8Array(8 * MiB) });
      const text = await res.text();
      if (fx.enforces.partSizes) {
        expect(res.status).toBe(413);
        expect(text).toMatch(/<Code>EntityTooLarge<\/Code>/);
        const etag2 = await putPart(upload.parts[1]!.url, randomBytes(MiB));
        await store.completeMultipartUpload(key, upload.uploadId, [
          { partNumber: 1, etag: etag1 },
          { partNumber: 2, etag: etag2 },
        ]);
        expect(await store.stat(key)).toEqual({ size });
      } else {
        // S3: the presigned UploadPart URL does not bind the size; the completed object tells
        expect(res.status).toBe(200);
        await store.completeMultipartUpload(key, upload.uploadId, [
          { partNumber: 1, etag: etag1 },
          { partNumber: 2, etag: res.headers.get("etag")! },
        ]);
        expect(await store.stat(key)).toEqual({ size: 13 * MiB });
      }
    });

    // Issue 15, hole 8: single use. Once promoted, no target reaches the object.
    it("promotes an upload to its final key; a target used again never changes the promoted object", async () => {
      const { store } = fx;
      const body = Buffer.from("%PDF-1.7 first");
      const target = await store.createUploadTarget("t3/p1/upload", {
        minSize: body.length,
        maxSize: body.length,
        ttlSeconds: 60,
        contentType: "application/pdf",
      });
      expect((await postUpload(target, body)).status).toBeLessThan(300);
      await store.promoteUpload("t3/p1/upload", "t3/p1/original");
      expect(await store.stat("t3/p1/upload")).toBeNull();
      expect((await store.get("t3/p1/original")).equals(body)).toBe(true);
      const swapped = Buffer.from("%PDF-1.7 other");
      const again = await postUpload(target, swapped);
      await again.arrayBuffer();
      if (fx.enforces.closedTargets) {
        expect(again.status).toBe(409);
        expect(await store.stat("t3/p1/upload")).toBeNull();
      } else {
        expect(again.status).toBeLessThan(300); // S3 cannot refuse what its policy allows
      }
      expect((await store.get("t3/p1/original")).equals(body)).toBe(true);
      // the type the upload was signed with goes along
      const url = await store.createDownloadUrl("t3/p1/original", {
        ttlSeconds: 60,
        inline: true,
        contentType: "application/pdf",
      });
      const got = await fetch(url);
      expect(got.headers.get("content-type")).toBe("application/pdf");
      expect(Buffer.from(await got.arrayBuffer()).equals(body)).toBe(true);
      await expect(store.promoteUpload("t3/p2/upload", "t3/p2/original")).rejects.toBeInstanceOf(
        ObjectNotFoundError,
      );
    });

    it("refuses the part URLs of a completed multipart upload", async () => {
      const { store } = fx;
      const key = "t3/p3/upload";
      const upload = await store.createMultipartUpload(key, { size: 4, partSize: 5 * MiB, ttlSeconds: 300 });
      const etag = await putPart(upload.parts[0]!.url, Buffer.from("four"));
      await store.completeMultipartUpload(key, upload.uploadId, [{ partNumber: 1, etag }]);
      const late = await fetch(upload.parts[0]!.url, {
        method: "PUT",
        body: new Uint8Array(Buffer.from("evil")),
      });
      await late.arrayBuffer();
      expect(late.status).toBe(404);
      expect((await store.get(key)).toString()).toBe("four");
    });

    // Issue 18: browsers upload and preview straight from the store.
    it("answers CORS for the configured origin on uploads, parts and downloads, and refuses another", async () => {
      const { store } = fx;
      await store.put("t3/c1/original", "%PDF-1.7 cors", "application/pdf");
      const target = await store.createUploadTarget("t3/c1/upload", { maxSize: 100, ttlSeconds: 60 });
      const multipart = await store.createMultipartUpload("t3/c2/upload", {
        size: 4,
        partSize: 5 * MiB,
        ttlSeconds: 300,
      });
      const download = await store.createDownloadUrl("t3/c1/original", { ttlSeconds: 60 });
      const preflight = async (url: string, origin: string, method: string) => {
        const res = await fetch(url, {
          method: "OPTIONS",
          headers: {
            Origin: origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
          },
        });
        await res.arrayBuffer();
        return res;
      };
      for (const [url, method] of [
        [target.url, "POST"],
        [multipart.parts[0]!.url, "PUT"],
        [download, "GET"],
      ] as const) {
        const ok = await preflight(url, CORS_ORIGIN, method);
        expect(ok.status, method).toBeGreaterThanOrEqual(200);
        expect(ok.status, method).toBeLessThan(300);
        expect(ok.headers.get("access-control-allow-origin"), method).toBe(CORS_ORIGIN);
        expect(ok.headers.get("access-control-allow-methods"), method).toContain(method);
        const denied = await preflight(url, "https://evil.example", method);
        expect(denied.status, method).toBe(403);
        expect(denied.headers.get("access-control-allow-origin"), method).toBeNull();
      }
      // the actual requests: the page reads the answer and each part's ETag
      const form = new FormData();
      for (const [k, v] of Object.entries(target.fields)) form.append(k, v);
      form.append("file", new Blob([new Uint8Array(3)]), "f");
      const up = await fetch(target.url, { method: "POST", body: form, headers: { Origin: CORS_ORIGIN } });
      await up.arrayBuffer();
      expect(up.status).toBeLessThan(300);
      expect(up.headers.get("access-control-allow-origin")).toBe(CORS_ORIGIN);
      const part = await fetch(multipart.parts[0]!.url, {
        method: "PUT",
        body: new Uint8Array(Buffer.from("four")),
        headers: { Origin: CORS_ORIGIN },
      });
      await part.arrayBuffer();
      expect(part.status).toBe(200);
      expect(part.headers.get("access-control-allow-origin")).toBe(CORS_ORIGIN);
      expect(part.headers.get("access-control-expose-headers")).toMatch(/etag/i);
      const got = await fetch(download, { headers: { Origin: CORS_ORIGIN } });
      await got.arrayBuffer();
      expect(got.headers.get("access-control-allow-origin")).toBe(CORS_ORIGIN);
      const other = await fetch(download, { headers: { Origin: "https://evil.example" } });
      await other.arrayBuffer();
      expect(other.headers.get("access-control-allow-origin")).toBeNull();
      await store.abortMultipartUpload("t3/c2/upload", multipart.uploadId);
    });

    it("previews safe types inline with their type; HTML, SVG and XML stay attachments", async () => {
      const { store } = fx;
      const cases = [
        ["application/pdf", "a.pdf", "inline"],
        ["image/png", "a.png", "inline"],
        ["text/html", "a.html", "attachment"],
        ["image/svg+xml", "a.svg", "attachment"],
        ["application/xml", "a.xml", "attachment"],
        ["application/xhtml+xml", "a.xhtml", "attachment"],
      ] as const;
      for (const [type, name, want] of cases) {
        const key = `t3/i1/${name.replace(".", "-")}`;
        await store.put(key, "<svg onload=alert(1)>", type);
        const got = await fetch(
          await store.createDownloadUrl(key, {
            ttlSeconds: 60,
            fileName: name,
            inline: true,
            contentType: type,
          }),
        );
        await got.arrayBuffer();
        expect(got.status, type).toBe(200);
        expect(got.headers.get("content-disposition"), type).toMatch(
          new RegExp(`^${want}; filename\\*=UTF-8''${name}$`),
        );
        if (want === "inline") expect(got.headers.get("content-type"), type).toBe(type);
      }
      // A preview goes out with the type given at signing (what parse detected), whatever the upload
      // declared; the type is part of the signature.
      await store.put("t3/i1/declared-binary", "%PDF-1.4 preview", "application/octet-stream");
      const preview = await store.createDownloadUrl("t3/i1/declared-binary", {
        ttlSeconds: 60,
        fileName: "scan.pdf",
        inline: true,
        contentType: "application/pdf",
      });
      const shown = await fetch(preview);
      await shown.arrayBuffer();
      expect(shown.headers.get("content-disposition")).toBe("inline; filename*=UTF-8''scan.pdf");
      expect(shown.headers.get("content-type")).toBe("application/pdf");
      const retyped = new URL(preview);
      for (const param of ["type", "response-content-type"])
        if (retyped.searchParams.has(param)) retyped.searchParams.set(param, "text/html");
      const refused = await fetch(retyped);
      await refused.arrayBuffer();
      expect(refused.status).toBe(403);
      // without asking, even a PDF is an attachment
      const plain = await fetch(
        await store.createDownloadUrl("t3/i1/a-pdf", { ttlSeconds: 60, fileName: "a.pdf" }),
      );
      await plain.arrayBuffer();
      expect(plain.headers.get("content-disposition")).toMatch(/^attachment/);
    });
  });
}

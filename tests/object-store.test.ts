import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalObjectStore } from "@docfleet/pipeline/adapters/objectstore/local";
import { S3ObjectStore } from "@docfleet/pipeline/adapters/objectstore/s3";
import {
  attachmentDisposition,
  MultipartPartError,
  MultipartUploadNotFoundError,
} from "@docfleet/pipeline/ports/object-store";
import { describe, expect, it } from "vitest";
import {
  CORS_ORIGIN,
  MAX_UPLOAD_BYTES,
  objectStoreContract,
  postUpload,
  putPart,
} from "./contracts/object-store.contract.ts";

const MiB = 1024 * 1024;

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
  const opts = { root, publicUrl: url, corsOrigins: [CORS_ORIGIN], maxUploadBytes: MAX_UPLOAD_BYTES };
  store = new LocalObjectStore({ ...opts, secret: "s".repeat(32) });
  return {
    store,
    wrongSecret: new LocalObjectStore({ ...opts, secret: "w".repeat(32) }),
    enforces: { partSizes: true, closedTargets: true },
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

describe("attachmentDisposition", () => {
  it("names the last segment of a name, percent-encoded as RFC 8187 wants", () => {
    const d = (name: string) => attachmentDisposition(name).replace("attachment; filename*=UTF-8''", "");
    expect(d("a/b/Été 2024.pdf")).toBe("%C3%89t%C3%A9%202024.pdf");
    expect(d("dir\\sub\\x.txt")).toBe("x.txt");
    expect(d("x\r\nSet-Cookie: a=b;.pdf")).toBe("x%0D%0ASet-Cookie%3A%20a%3Db%3B.pdf");
    expect(d(`it's "(1)"*.txt`)).toBe("it%27s%20%22%281%29%22%2A.txt");
    expect(d("lone\ud800.txt")).toBe("lone%EF%BF%BD.txt");
  });
});

describe("local object store seals", () => {
  it("seals beside the upload (no key lists it) and still honours an earlier version's .sealed/<key>", async () => {
    const fx = await localFixture();
    try {
      await fx.store.setup();
      const body = Buffer.from("sealed bytes");
      const t = await fx.store.createUploadTarget("t/s1/upload", { maxSize: 100, ttlSeconds: 60 });
      expect((await postUpload(t, body)).status).toBeLessThan(300);
      await fx.store.promoteUpload("t/s1/upload", "t/s1/original");
      // One marker in the document's own folder, no folder per seal; a dot name is never a key.
      expect((await readdir(join(fx.root, "t", "s1"))).sort()).toEqual([".upload.sealed", "original"]);
      expect(await fx.store.list("t/")).toEqual(["t/s1/original"]);
      expect((await postUpload(t, body)).status).toBe(409);

      // A data folder sealed by an earlier version: its .sealed/<key> closes the key all the same.
      await mkdir(join(fx.root, ".sealed", "t", "s2"), { recursive: true });
      await writeFile(join(fx.root, ".sealed", "t", "s2", "upload"), "");
      let store!: LocalObjectStore;
      const served = createServer((req, res) => void store.handleHttp(req, res));
      await new Promise<void>((r) => served.listen(0, "127.0.0.1", r));
      try {
        // A fresh store, as a process started on that folder has: it looks for old seals once.
        const publicUrl = `http://127.0.0.1:${(served.address() as AddressInfo).port}`;
        store = new LocalObjectStore({ root: fx.root, publicUrl, secret: "s".repeat(32) });
        const old = await store.createUploadTarget("t/s2/upload", { maxSize: 100, ttlSeconds: 60 });
        const res = await postUpload(old, body);
        expect(res.status).toBe(409);
        expect(await store.stat("t/s2/upload")).toBeNull();
        // deletePrefix takes both kinds of seal with the document
        await store.deletePrefix("t/s2/");
        await store.deletePrefix("t/s1/");
        expect(await readdir(join(fx.root, ".sealed", "t"))).toEqual([]);
        expect(await readdir(join(fx.root, "t"))).toEqual([]);
      } finally {
        served.closeAllConnections();
        await new Promise((r) => served.close(r));
      }
    } finally {
      await fx.close();
    }
  });

  it("makes each seal a hard link to the seal file it made last (no new file per seal); that one deleted, another starts", async () => {
    const fx = await localFixture();
    try {
      await fx.store.setup();
      const body = Buffer.from("sealed bytes");
      const seal = (doc: string) => join(fx.root, "t", doc, ".upload.sealed");
      const targets = [];
      for (const doc of ["a", "b", "c", "d"]) {
        const t = await fx.store.createUploadTarget(`t/${doc}/upload`, { maxSize: 100, ttlSeconds: 60 });
        expect((await postUpload(t, body)).status).toBeLessThan(300);
        targets.push(t);
      }
      await fx.store.promoteUpload("t/a/upload", "t/a/original");
      await fx.store.promoteUpload("t/b/upload", "t/b/original");
      const [a, b] = [await stat(seal("a")), await stat(seal("b"))];
      expect(b.ino).toBe(a.ino);
      expect(b.nlink).toBe(2);
      // The document whose seal the others link to is deleted: the next seal is a file of its own, and holds.
      await fx.store.deletePrefix("t/a/");
      await fx.store.promoteUpload("t/c/upload", "t/c/original");
      await fx.store.promoteUpload("t/d/upload", "t/d/original");
      expect((await stat(seal("b"))).nlink).toBe(1);
      const [c, d] = [await stat(seal("c")), await stat(seal("d"))];
      expect(d.ino).toBe(c.ino);
      expect(c.nlink).toBe(2);
      for (const t of targets.slice(1)) expect((await postUpload(t, body)).status).toBe(409);
      expect(await fx.store.list("t/")).toEqual(["t/b/original", "t/c/original", "t/d/original"]);
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
      // more bytes than signed, by far more than one chunk: refused, not left hanging
      expect((await postUpload(t, Buffer.alloc(4 * 1024 * 1024))).status).toBe(413);
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

/** An S3 endpoint that answers the multipart requests with the XML documented for S3 (no state). */
async function cannedS3(
  answer: (req: IncomingMessage, uploadId: string) => { status: number; body: string },
) {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://s3");
    seen.push(`${req.method} ${url.pathname}?uploadId=${url.searchParams.get("uploadId")}`);
    req.resume();
    req.on("end", () => {
      const { status, body } = answer(req, url.searchParams.get("uploadId") ?? "");
      res.writeHead(status, { "content-type": "application/xml" }).end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const store = new S3ObjectStore({
    endPoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    accessKey: "AKIDEXAMPLE",
    secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    bucket: "docfleet-uploads",
    region: "eu-west-1",
  });
  return {
    store,
    seen,
    close: () => new Promise((r) => server.close(r)),
  };
}

const s3Error = (status: number, code: string, extra = "") => ({
  status,
  body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code} says S3</Message>${extra}<RequestId>R1</RequestId><HostId>H1</HostId></Error>`,
});

function listParts(parts: { n: number; size: number }[]) {
  return {
    status: 200,
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>docfleet-uploads</Bucket><Key>t/d/original</Key><UploadId>open</UploadId><PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>${parts.length}</NextPartNumberMarker><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated>${parts
      .map(
        (p) =>
          `<Part><PartNumber>${p.n}</PartNumber><LastModified>2024-05-01T10:00:00.000Z</LastModified><ETag>&quot;${"a".repeat(32)}&quot;</ETag><Size>${p.size}</Size></Part>`,
      )
      .join("")}</ListPartsResult>`,
  };
}

// The adapter's mapping of each S3 error code, against canned answers as S3 documents them (the same
// paths run for real on radosgw in tests/object-store-rgw.test.ts; here each code is forced).
describe("s3 object store: S3's multipart answers, canned", () => {
  it("re-signs after ListParts, and maps NoSuchUpload and a misfit part", async () => {
    const s3 = await cannedS3((req, id) => {
      if (req.method !== "GET") return s3Error(405, "MethodNotAllowed");
      if (id === "open") return listParts([{ n: 1, size: 5 * MiB }]);
      return s3Error(404, "NoSuchUpload", `<UploadId>${id}</UploadId>`);
    });
    try {
      const opts = { size: 11 * MiB, partSize: 5 * MiB, ttlSeconds: 120 };
      const upload = await s3.store.signMultipartParts("t/d/original", "open", opts);
      expect(upload.uploadId).toBe("open");
      expect(upload.parts.map((p) => new URL(p.url).searchParams.get("partNumber"))).toEqual(["1", "2", "3"]);
      expect(s3.seen).toEqual(["GET /docfleet-uploads/t/d/original?uploadId=open"]);
      await expect(
        s3.store.signMultipartParts("t/d/original", "open", { ...opts, partSize: 8 * MiB }),
      ).rejects.toBeInstanceOf(MultipartPartError);
      await expect(s3.store.signMultipartParts("t/d/original", "gone", opts)).rejects.toBeInstanceOf(
        MultipartUploadNotFoundError,
      );
    } finally {
      await s3.close();
    }
  });

  it("maps CompleteMultipartUpload's NoSuchUpload, InvalidPart and EntityTooSmall; other errors pass", async () => {
    const s3 = await cannedS3((req, id) => {
      if (req.method !== "POST") return s3Error(405, "MethodNotAllowed");
      if (id === "gone") return s3Error(404, "NoSuchUpload");
      if (id === "badpart") return s3Error(400, "InvalidPart", "<PartNumber>2</PartNumber><ETag>x</ETag>");
      if (id === "small") return s3Error(400, "EntityTooSmall");
      return s3Error(403, "AccessDenied");
    });
    try {
      const parts = [
        { partNumber: 1, etag: '"a"' },
        { partNumber: 2, etag: '"b"' },
      ];
      await expect(s3.store.completeMultipartUpload("t/d/original", "gone", parts)).rejects.toBeInstanceOf(
        MultipartUploadNotFoundError,
      );
      await expect(s3.store.completeMultipartUpload("t/d/original", "badpart", parts)).rejects.toMatchObject({
        name: "MultipartPartError",
        partNumber: 2,
      });
      await expect(s3.store.completeMultipartUpload("t/d/original", "small", parts)).rejects.toBeInstanceOf(
        MultipartPartError,
      );
      await expect(s3.store.completeMultipartUpload("t/d/original", "boom", parts)).rejects.toMatchObject({
        code: "AccessDenied",
      });
    } finally {
      await s3.close();
    }
  });

  it("aborts idempotently on NoSuchUpload but not on other errors", async () => {
    const s3 = await cannedS3((req, id) => {
      if (req.method !== "DELETE") return s3Error(405, "MethodNotAllowed");
      if (id === "open") return { status: 204, body: "" };
      if (id === "gone") return s3Error(404, "NoSuchUpload");
      return s3Error(403, "AccessDenied");
    });
    try {
      await s3.store.abortMultipartUpload("t/d/original", "open");
      await s3.store.abortMultipartUpload("t/d/original", "gone");
      await expect(s3.store.abortMultipartUpload("t/d/original", "boom")).rejects.toMatchObject({
        code: "AccessDenied",
      });
    } finally {
      await s3.close();
    }
  });
});

describe("local object store: multipart part URLs", () => {
  it("refuses tampered, expired and unknown part PUTs, caps a part, and cleans up", async () => {
    const fx = await localFixture();
    try {
      await fx.store.setup();
      const key = "t/big/original";
      const opts = { size: 6 * MiB, partSize: 5 * MiB, ttlSeconds: 60 };
      const upload = await fx.store.createMultipartUpload(key, opts);
      const url = new URL(upload.parts[0]!.url);
      expect(url.pathname).toBe(`/objects/multipart/${upload.uploadId}/1`);
      const put = (u: URL | string, body = Buffer.from("x")) =>
        fetch(u, { method: "PUT", body: new Uint8Array(body) }).then((r) => r.status);
      const tampered = (change: (u: URL) => void) => {
        const u = new URL(url);
        change(u);
        return u;
      };
      expect(await put(tampered((u) => u.searchParams.delete("signature")))).toBe(403);
      expect(await put(tampered((u) => u.searchParams.set("signature", "x".repeat(43))))).toBe(403);
      expect(await put(tampered((u) => u.searchParams.set("key", "t/other/original")))).toBe(403);
      expect(await put(tampered((u) => u.searchParams.set("expires", "9999999999")))).toBe(403);
      expect(await put(tampered((u) => (u.pathname = `/objects/multipart/${upload.uploadId}/2`)))).toBe(403);
      const otherId = "0123456789abcdef0123456789abcdef";
      expect(await put(tampered((u) => (u.pathname = `/objects/multipart/${otherId}/1`)))).toBe(403);
      const expired = await fx.store.signMultipartParts(key, upload.uploadId, { ...opts, ttlSeconds: -1 });
      expect(await put(expired.parts[0]!.url)).toBe(403);

      // a part over 5 GiB is refused from its Content-Length, before any byte is stored
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(url, {
          method: "PUT",
          headers: { "content-length": String(5 * 1024 * MiB + 1) },
        });
        req.on("response", (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          req.destroy();
        });
        req.on("error", reject);
        req.flushHeaders();
      });
      expect(status).toBe(413);

      // the ETag is the part's MD5, quoted, as S3 answers it
      const body = randomBytes(6 * MiB);
      const etags = await Promise.all(
        upload.parts.map(async (p) => ({
          partNumber: p.partNumber,
          etag: await putPart(p.url, body.subarray((p.partNumber - 1) * 5 * MiB, p.partNumber * 5 * MiB)),
        })),
      );
      expect(etags[0]!.etag).toBe(
        `"${createHash("md5")
          .update(body.subarray(0, 5 * MiB))
          .digest("hex")}"`,
      );
      await fx.store.completeMultipartUpload(key, upload.uploadId, etags);
      expect((await fx.store.get(key)).equals(body)).toBe(true);
      // a valid signature for an upload that is gone: not found
      expect(await put(url)).toBe(404);
      expect(await readdir(join(fx.root, ".multipart"))).toEqual([]);
      expect(await readdir(join(fx.root, ".tmp"))).toEqual([]);
    } finally {
      await fx.close();
    }
  });
});

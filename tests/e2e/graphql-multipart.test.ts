import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashKey } from "@docfleet/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { putPart } from "../contracts/object-store.contract.ts";
import { RGW, removeRgwBucket, rgwBucketName } from "../helpers/rgw.ts";
import { startS3rver } from "../helpers/s3rver.ts";
import { inProcessSystem, type System } from "../helpers/system.ts";

const MiB = 1024 * 1024;

interface Target {
  uploadId: string;
  partSize: number;
  parts: { partNumber: number; url: string }[];
  expiresAt: string;
}

const START = `mutation($d: ID!, $p: Int, $u: String) {
  startMultipartUpload(documentId: $d, partSize: $p, uploadId: $u) { uploadId partSize parts { partNumber url } expiresAt } }`;
const COMPLETE = `mutation($d: ID!, $u: String!, $parts: [PartInput!]!) {
  completeMultipartUpload(documentId: $d, uploadId: $u, parts: $parts) }`;
const ABORT = "mutation($d: ID!, $u: String!) { abortMultipartUpload(documentId: $d, uploadId: $u) }";
const QUEUE = "mutation($ids: [ID!]!) { completeUploads(documentIds: $ids) { status message } }";

/**
 * Each store under its own embedded system (PGlite, memory queue, no worker: only the upload matters),
 * on s3rver for S3, and on radosgw too when RGW_URL is set. `gaps` names what the store's server does not implement (see tests/object-store.test.ts);
 * those tests are skipped with the reason, not passed.
 */
const stores: {
  name: string;
  env: () => Promise<{ env: Record<string, string>; close(): Promise<void> }>;
  gaps: { listParts?: string; abort?: string; completeChecks?: string };
  /** The store refuses a part of another size than its place in the cut (local); S3 joins it. */
  bindsPartSizes?: boolean;
}[] = [
  { name: "local", env: async () => ({ env: {}, close: async () => {} }), gaps: {}, bindsPartSizes: true },
  {
    name: "s3 (s3rver)",
    env: async () => {
      const s3 = await startS3rver();
      return {
        env: {
          S3_ENDPOINT: s3.endPoint,
          S3_ACCESS_KEY: s3.accessKey,
          S3_SECRET_KEY: s3.secretKey,
          S3_BUCKET: "docfleet-multipart",
        },
        close: () => s3.close(),
      };
    },
    gaps: {
      listParts: "s3rver does not implement ListParts, which re-signing sends",
      abort: "s3rver does not implement AbortMultipartUpload",
      completeChecks: "s3rver answers 500, not NoSuchUpload, to completing an upload it no longer knows",
    },
  },
  // where a radosgw runs (CI: always), the same tests against a server that implements all of it
  ...(RGW
    ? [
        {
          name: "s3 (radosgw)",
          env: async () => {
            const rgw = RGW!;
            const bucket = rgwBucketName("multipart");
            return {
              env: {
                S3_ENDPOINT: rgw.url,
                S3_ACCESS_KEY: rgw.accessKey,
                S3_SECRET_KEY: rgw.secretKey,
                S3_BUCKET: bucket,
              },
              close: () => removeRgwBucket(rgw, bucket),
            };
          },
          gaps: {},
        },
      ]
    : []),
];

describe.each(stores)("GraphQL multipart uploads: $name store", ({ env, gaps, bindsPartSizes }) => {
  let dir: string;
  let url: string;
  let system: System;
  let closeStore: () => Promise<void>;
  const otherKey = `dfk_${randomBytes(32).toString("base64url")}`;
  let batchId: string;

  /** A GraphQL call answering its data and its errors' codes; `key` acts as another tenant. */
  async function call<T>(query: string, variables?: Record<string, unknown>, key?: string) {
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as {
      data?: T;
      errors?: { message: string; extensions?: { code?: string } }[];
    };
    return {
      data: body.data,
      errors: body.errors ?? [],
      codes: (body.errors ?? []).map((e) => e.extensions?.code),
    };
  }

  async function ok<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
    const { data, errors } = await call<T>(query, variables);
    if (errors.length > 0) throw new Error(`GraphQL errors: ${JSON.stringify(errors)}`);
    return data!;
  }

  /** A new PENDING_UPLOAD document of random bytes of `size`. */
  async function pending(size: number): Promise<{ id: string; bytes: Buffer }> {
    const bytes = randomBytes(size);
    const { requestUploads } = await ok<{ requestUploads: { status: string; documentId: string }[] }>(
      "mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) { status documentId } }",
      {
        b: batchId,
        f: [{ name: "big.bin", size, sha256: createHash("sha256").update(bytes).digest("hex") }],
      },
    );
    expect(requestUploads[0]!.status).toBe("UPLOAD");
    return { id: requestUploads[0]!.documentId, bytes };
  }

  const start = (documentId: string, opts: { partSize?: number; uploadId?: string } = {}) =>
    ok<{ startMultipartUpload: Target }>(START, { d: documentId, p: opts.partSize, u: opts.uploadId }).then(
      (r) => r.startMultipartUpload,
    );

  const part = (bytes: Buffer, partSize: number, n: number) =>
    bytes.subarray((n - 1) * partSize, n * partSize);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-gql-multipart-"));
    const store = await env();
    closeStore = store.close;
    const started = await inProcessSystem(dir, { env: { DOCFLEET_LOG_LEVEL: "silent", ...store.env } });
    system = started;
    url = started.url;
    const { deps } = started;
    const other = randomUUID();
    await system.app.services.intake.ensureTenant(other, "other");
    await deps.db.prisma.apiKey.create({
      data: {
        tenantId: other,
        name: "other",
        hash: hashKey(otherKey),
        prefix: otherKey.slice(0, 12),
        scopes: ["upload"],
      },
    });
    ({
      createBatch: { id: batchId },
    } = await ok<{ createBatch: { id: string } }>(
      'mutation { createBatch(input: { name: "large" }) { id } }',
    ));
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
    await closeStore?.();
    await rm(dir, { recursive: true, force: true });
  });

  it("uploads 11 MiB in three parts, completes them, and queues the document", async () => {
    const doc = await pending(11 * MiB);
    const target = await start(doc.id, { partSize: 5 * MiB });
    expect(target.partSize).toBe(5 * MiB);
    expect(target.parts.map((p) => p.partNumber)).toEqual([1, 2, 3]);
    expect(new Date(target.expiresAt).getTime()).toBeGreaterThan(Date.now());
    const parts = await Promise.all(
      target.parts.map(async (p) => ({
        partNumber: p.partNumber,
        etag: await putPart(p.url, part(doc.bytes, target.partSize, p.partNumber)),
      })),
    );
    // not queued before the parts are joined
    const early = await ok<{ completeUploads: { status: string }[] }>(QUEUE, { ids: [doc.id] });
    expect(early.completeUploads[0]!.status).toBe("NOT_UPLOADED");
    expect(
      (await ok<{ completeMultipartUpload: boolean }>(COMPLETE, { d: doc.id, u: target.uploadId, parts }))
        .completeMultipartUpload,
    ).toBe(true);
    const done = await ok<{ completeUploads: { status: string }[] }>(QUEUE, { ids: [doc.id] });
    expect(done.completeUploads[0]!.status).toBe("QUEUED");
    const { document } = await ok<{ document: { downloadUrl: string } }>(
      "query($id: ID!) { document(id: $id) { downloadUrl } }",
      { id: doc.id },
    );
    expect(Buffer.from(await (await fetch(document.downloadUrl)).arrayBuffer()).equals(doc.bytes)).toBe(true);
    // uploaded: no second multipart upload
    expect((await call(START, { d: doc.id })).codes).toEqual(["CONFLICT"]);
    expect((await call(COMPLETE, { d: doc.id, u: target.uploadId, parts })).codes).toEqual(["CONFLICT"]);
  });

  it("answers a completion retried after a lost answer as the first one", async ({ skip }) => {
    skip(gaps.completeChecks !== undefined, gaps.completeChecks);
    const doc = await pending(6 * MiB);
    const target = await start(doc.id);
    const parts = [{ partNumber: 1, etag: await putPart(target.parts[0]!.url, doc.bytes) }];
    await ok(COMPLETE, { d: doc.id, u: target.uploadId, parts });
    expect((await call(COMPLETE, { d: doc.id, u: target.uploadId, parts })).codes).toEqual([]);
    const other = await pending(6 * MiB);
    const unknown = await call(COMPLETE, { d: other.id, u: target.uploadId, parts });
    expect(unknown.codes).toEqual(["NOT_FOUND"]);
  });

  it("resumes with fresh URLs after a crash, keeping the part already uploaded", async ({ skip }) => {
    skip(gaps.listParts !== undefined, gaps.listParts);
    const doc = await pending(11 * MiB);
    const first = await start(doc.id, { partSize: 5 * MiB });
    const etag1 = await putPart(first.parts[0]!.url, part(doc.bytes, 5 * MiB, 1));
    // the client crashed: it kept the upload id, the part size and part 1's ETag, not the URLs
    const again = await start(doc.id, { partSize: 5 * MiB, uploadId: first.uploadId });
    expect(again.uploadId).toBe(first.uploadId);
    expect(again.parts.map((p) => p.partNumber)).toEqual([1, 2, 3]);
    // resuming with another cut than the one part 1 was cut with would join misaligned bytes
    const misfit = await call(START, { d: doc.id, p: 6 * MiB, u: first.uploadId });
    expect(misfit.codes).toEqual(["BAD_REQUEST"]);
    const rest = await Promise.all(
      [2, 3].map(async (n) => ({
        partNumber: n,
        etag: await putPart(again.parts[n - 1]!.url, part(doc.bytes, 5 * MiB, n)),
      })),
    );
    await ok(COMPLETE, { d: doc.id, u: first.uploadId, parts: [{ partNumber: 1, etag: etag1 }, ...rest] });
    const done = await ok<{ completeUploads: { status: string }[] }>(QUEUE, { ids: [doc.id] });
    expect(done.completeUploads[0]!.status).toBe("QUEUED");

    // an upload the store does not know: start again
    const other = await pending(6 * MiB);
    const unknown = await call(START, { d: other.id, u: "0123456789abcdef0123456789abcdef" });
    expect(unknown.codes).toEqual(["NOT_FOUND"]);
    expect(unknown.errors[0]!.message).toMatch(/start again/);
    // another document's open upload is not this one's
    const open = await start(other.id);
    const third = await pending(6 * MiB);
    expect((await call(START, { d: third.id, u: open.uploadId })).codes).toEqual(["NOT_FOUND"]);
  });

  it("aborts an upload: its URLs and its id stop working", async ({ skip }) => {
    skip(gaps.abort !== undefined, gaps.abort);
    const doc = await pending(6 * MiB);
    const target = await start(doc.id);
    expect(target.parts).toHaveLength(1); // the default part size (16 MiB) holds it whole
    const etag = await putPart(target.parts[0]!.url, doc.bytes);
    expect(
      (await ok<{ abortMultipartUpload: boolean }>(ABORT, { d: doc.id, u: target.uploadId }))
        .abortMultipartUpload,
    ).toBe(true);
    await ok(ABORT, { d: doc.id, u: target.uploadId }); // idempotent
    const late = await fetch(target.parts[0]!.url, { method: "PUT", body: new Uint8Array(doc.bytes) });
    expect(late.status).toBeGreaterThanOrEqual(400);
    const gone = await call(COMPLETE, { d: doc.id, u: target.uploadId, parts: [{ partNumber: 1, etag }] });
    expect(gone.codes).toEqual(["NOT_FOUND"]);
    expect(gone.errors[0]!.message).toMatch(/start again/);
  });

  it("deletes joined parts whose size differs from the document's", async () => {
    const doc = await pending(6 * MiB);
    const target = await start(doc.id, { partSize: 5 * MiB });
    if (bindsPartSizes) {
      // the local store refuses the short part itself (issue 15): it never joins
      const short = await fetch(target.parts[1]!.url, { method: "PUT", body: new Uint8Array(5) });
      expect([short.status, await short.text()]).toEqual([400, expect.stringMatching(/EntityTooSmall/)]);
      return;
    }
    const parts = [
      { partNumber: 1, etag: await putPart(target.parts[0]!.url, part(doc.bytes, 5 * MiB, 1)) },
      { partNumber: 2, etag: await putPart(target.parts[1]!.url, Buffer.from("short")) },
    ];
    const res = await call(COMPLETE, { d: doc.id, u: target.uploadId, parts });
    expect(res.codes).toEqual(["BAD_REQUEST"]);
    expect(res.errors[0]!.message).toMatch(/announced 6291456/);
    const after = await ok<{ completeUploads: { status: string }[] }>(QUEUE, { ids: [doc.id] });
    expect(after.completeUploads[0]!.status).toBe("NOT_UPLOADED");
  });

  it("answers codes for bad part sizes, other tenants' and unknown documents", async () => {
    const doc = await pending(11 * MiB);
    const tiny = await call(START, { d: doc.id, p: 1024 });
    expect(tiny.codes).toEqual(["BAD_REQUEST"]);
    expect(tiny.errors[0]!.message).toMatch(/at least 5242880/);
    expect((await call(START, { d: doc.id, p: -1 })).codes).toEqual(["BAD_REQUEST"]);
    // the same document through another tenant's key: it does not exist there
    expect((await call(START, { d: doc.id }, otherKey)).codes).toEqual(["NOT_FOUND"]);
    expect(
      (await call(COMPLETE, { d: doc.id, u: "x", parts: [{ partNumber: 1, etag: "x" }] }, otherKey)).codes,
    ).toEqual(["NOT_FOUND"]);
    expect((await call(ABORT, { d: doc.id, u: "x" }, otherKey)).codes).toEqual(["NOT_FOUND"]);
    for (const id of [randomUUID(), "not-a-uuid"]) {
      expect((await call(START, { d: id })).codes).toEqual(["NOT_FOUND"]);
    }
    expect((await call(COMPLETE, { d: doc.id, u: "x", parts: [] })).codes).toEqual(["BAD_REQUEST"]);
  });
});

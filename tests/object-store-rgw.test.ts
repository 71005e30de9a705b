import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { S3ObjectStore, type S3ObjectStoreOptions } from "@docfleet/pipeline/adapters/objectstore/s3";
import type { S3CredentialChainOptions } from "@docfleet/pipeline/adapters/objectstore/s3-credentials";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CORS_ORIGIN,
  MAX_UPLOAD_BYTES,
  objectStoreContract,
  postUpload,
  putPart,
} from "./contracts/object-store.contract.ts";
import { type ImdsStandIn, type RoleCredentials, startImdsStandIn } from "./helpers/imds-stand-in.ts";
import {
  describeRgw,
  RGW_ROLE,
  removeRgwBucket,
  rgwBucketName,
  rgwClient,
  rgwRoleCredentials,
} from "./helpers/rgw.ts";

const MiB = 1024 * 1024;

// Ceph radosgw checks what s3rver does not: V4 signatures, POST-policy conditions, multipart (ListParts,
// abort, ETags on completion), bucket CORS and STS session tokens. These run wherever RGW_URL is set
// (CI starts one: .ci/run), are skipped with the reason elsewhere, and fail in CI without it.
describeRgw("S3 on radosgw", (rgw) => {
  const buckets: string[] = [];
  afterAll(async () => {
    for (const b of buckets) await removeRgwBucket(rgw, b);
  });
  /** An adapter on a fresh bucket of radosgw; `setup()` creates the bucket. */
  const s3 = (label: string, extra: Partial<S3ObjectStoreOptions> = {}) => {
    const bucket = rgwBucketName(label);
    buckets.push(bucket);
    const opts: S3ObjectStoreOptions = {
      endPoint: rgw.url,
      accessKey: rgw.accessKey,
      secretKey: rgw.secretKey,
      bucket,
      ...extra,
    };
    return { bucket, opts, store: new S3ObjectStore(opts) };
  };

  objectStoreContract("s3 (radosgw)", async () => {
    const { opts, store } = s3("contract", { corsOrigins: [CORS_ORIGIN], maxUploadBytes: MAX_UPLOAD_BYTES });
    return {
      store,
      wrongSecret: new S3ObjectStore({ ...opts, secretKey: `${rgw.secretKey}-wrong` }),
      enforces: { partSizes: false, closedTargets: false },
      close: async () => {},
    };
  });

  describe("s3 adapter on radosgw", () => {
    it("presigns one UploadPart URL per part, carrying the part number, the upload id and the expiry", async () => {
      const { store } = s3("parts");
      await store.setup();
      const upload = await store.createMultipartUpload("t/big/original", {
        size: 12 * MiB,
        partSize: 5 * MiB,
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
      await store.abortMultipartUpload("t/big/original", upload.uploadId);
    });

    it("tells a missing object from a missing bucket, and refuses invalid keys before any request", async () => {
      const { store, opts } = s3("missing");
      await store.setup();
      expect(await store.stat("t/d/missing")).toBeNull();
      await store.delete("t/d/missing");
      await expect(store.get("t/d/missing")).rejects.toMatchObject({ name: "ObjectNotFoundError" });
      const other = new S3ObjectStore({ ...opts, bucket: rgwBucketName("never-made") });
      await expect(other.get("t/d/original")).rejects.toMatchObject({ code: "NoSuchBucket" });
      for (const key of ["../etc/passwd", "/t/d", "t//d", "t/./d", ""]) {
        await expect(store.get(key)).rejects.toThrow(/invalid object key/);
        await expect(store.createUploadTarget(key, { maxSize: 1, ttlSeconds: 60 })).rejects.toThrow(
          /invalid object key/,
        );
      }
    });

    it("refuses every request signed with a wrong secret", async () => {
      const { store, opts } = s3("wrong-secret");
      await store.setup();
      await store.put("t/d/original", "bytes");
      const wrong = new S3ObjectStore({ ...opts, secretKey: "not-the-secret" });
      // radosgw answers AccessDenied where AWS says SignatureDoesNotMatch; both are 403
      const refused = { code: expect.stringMatching(/^(AccessDenied|SignatureDoesNotMatch)$/) };
      await expect(wrong.put("t/d/original", "evil")).rejects.toMatchObject(refused);
      await expect(wrong.get("t/d/original")).rejects.toMatchObject(refused);
      await expect(wrong.stat("t/d/original")).rejects.toMatchObject(refused);
      await expect(
        wrong.createMultipartUpload("t/d/big", { size: 6 * MiB, partSize: 5 * MiB, ttlSeconds: 60 }),
      ).rejects.toMatchObject(refused);
      await expect(
        new S3ObjectStore({ ...opts, bucket: rgwBucketName("wrong"), secretKey: "x" }).setup(),
      ).rejects.toMatchObject(refused);
      expect((await store.get("t/d/original")).toString()).toBe("bytes");
    });

    it("refuses an upload form posted to another bucket than the one it was signed for", async () => {
      const { store } = s3("form-a");
      const { store: other, bucket: otherBucket } = s3("form-b");
      await store.setup();
      await other.setup();
      const target = await store.createUploadTarget("t/d/original", { maxSize: 100, ttlSeconds: 60 });
      const res = await postUpload({ ...target, url: `${rgw.url}/${otherBucket}` }, Buffer.from("x"));
      expect(res.status).toBe(403);
      expect(await other.stat("t/d/original")).toBeNull();
      expect(await store.stat("t/d/original")).toBeNull();
    });

    it("serves a POST-uploaded object with the signed content type", async () => {
      const { store, bucket } = s3("content-type");
      await store.setup();
      const target = await store.createUploadTarget("t/d/original", {
        maxSize: 100,
        ttlSeconds: 60,
        contentType: "application/pdf",
      });
      expect((await postUpload(target, Buffer.from("%PDF-1.7"))).status).toBe(204);
      const stat = await rgwClient(rgw).statObject(bucket, "t/d/original");
      expect(stat.metaData["content-type"]).toBe("application/pdf");
    });

    it("puts the configured CORS rule on the bucket: an allowed origin's preflight passes, another's fails", async () => {
      const allowed = "https://app.example.com";
      const { store, bucket, opts } = s3("cors", { corsOrigins: [allowed, "http://localhost:5173"] });
      await store.setup();
      await store.setup(); // idempotent
      const preflight = (origin: string, method: string, path = `/${bucket}`) =>
        fetch(`${rgw.url}${path}`, {
          method: "OPTIONS",
          headers: {
            Origin: origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
          },
        });
      for (const [method, path] of [
        ["POST", `/${bucket}`], // the presigned POST upload
        ["PUT", `/${bucket}/t/d/original?partNumber=1&uploadId=x`], // a multipart part
        ["GET", `/${bucket}/t/d/original`], // a download
      ] as const) {
        const ok = await preflight(allowed, method, path);
        await ok.arrayBuffer();
        expect(ok.status, method).toBe(200);
        expect(ok.headers.get("access-control-allow-origin"), method).toBe(allowed);
        expect(ok.headers.get("access-control-allow-methods"), method).toContain(method);
        // the page reads each part's ETag to complete the upload
        expect(ok.headers.get("access-control-expose-headers"), method).toContain("ETag");
      }
      const denied = await preflight("https://evil.example.com", "POST");
      await denied.arrayBuffer();
      expect(denied.status).toBe(403);
      expect(denied.headers.get("access-control-allow-origin")).toBeNull();
      const wrongMethod = await preflight(allowed, "DELETE");
      await wrongMethod.arrayBuffer();
      expect(wrongMethod.status).toBe(403);

      // the upload itself answers the allowed origin
      const target = await store.createUploadTarget("t/d/original", { maxSize: 10, ttlSeconds: 60 });
      const form = new FormData();
      for (const [k, v] of Object.entries(target.fields)) form.append(k, v);
      form.append("file", new Blob([new Uint8Array(3)]), "f");
      const up = await fetch(target.url, { method: "POST", body: form, headers: { Origin: allowed } });
      expect(up.status).toBe(204);
      expect(up.headers.get("access-control-allow-origin")).toBe(allowed);

      // a process configured without origins leaves the bucket's rule alone (Terraform may own it)
      await new S3ObjectStore({ ...opts, corsOrigins: [] }).setup();
      const still = await preflight(allowed, "POST");
      await still.arrayBuffer();
      expect(still.status).toBe(200);
    });
  });

  describe("s3 credentials without static keys (radosgw STS session keys, as an instance role has)", () => {
    let imds: ImdsStandIn;
    let role: RoleCredentials;
    let expiresIn = 3600_000;
    let handedOut = 0;
    let closedPort: number;
    beforeAll(async () => {
      role = await rgwRoleCredentials(rgw);
      imds = await startImdsStandIn({
        role: RGW_ROLE,
        credentials: async () => {
          handedOut++;
          return { ...role, expiration: new Date(Date.now() + expiresIn) };
        },
      });
      closedPort = await freeClosedPort();
    });
    afterAll(async () => {
      await imds?.close();
    });

    /** An adapter with no static keys, looking for credentials in `credentials`. */
    const chained = (label: string, credentials: S3CredentialChainOptions) => {
      const { opts, bucket } = s3(label);
      const { accessKey: _a, secretKey: _s, ...rest } = opts;
      return { bucket, store: new S3ObjectStore({ ...rest, credentials }) };
    };
    const noImds = () => ({ endpoint: `http://127.0.0.1:${closedPort}` });

    /** What a gateway and a worker do with the store, each step signed with the session's keys. */
    async function exercise(store: S3ObjectStore) {
      await store.setup();
      await store.put("t/d/text.txt", "through the role");
      expect((await store.get("t/d/text.txt")).toString()).toBe("through the role");
      const target = await store.createUploadTarget("t/d/original", { maxSize: 100, ttlSeconds: 60 });
      // the session token is a policy condition and a form field, as S3 requires of temporary keys
      expect(target.fields["x-amz-security-token"]).toBe(role.sessionToken);
      expect((await postUpload(target, Buffer.from("posted"))).status).toBe(204);
      const url = new URL(await store.createDownloadUrl("t/d/original", { ttlSeconds: 60 }));
      expect(url.searchParams.get("X-Amz-Security-Token")).toBe(role.sessionToken);
      expect(await (await fetch(url)).text()).toBe("posted");
      // without the token the same signature is refused: radosgw checks the session
      url.searchParams.delete("X-Amz-Security-Token");
      expect((await fetch(url)).status).toBe(403);
      const upload = await store.createMultipartUpload("t/d/big", {
        size: 6,
        partSize: 5 * MiB,
        ttlSeconds: 60,
      });
      const etag = await putPart(upload.parts[0]!.url, Buffer.from("parted"));
      await store.completeMultipartUpload("t/d/big", upload.uploadId, [{ partNumber: 1, etag }]);
      expect(await store.stat("t/d/big")).toEqual({ size: 6 });
    }

    it("the instance role through IMDSv2 (a local stand-in): token PUT, then the role, then its keys", async () => {
      imds.requests.length = 0;
      handedOut = 0;
      expiresIn = 3600_000;
      const { store } = chained("imds", { imds: { endpoint: imds.url } });
      await exercise(store);
      const prefix = "/latest/meta-data/iam/security-credentials/";
      // asked once for the process (the keys live an hour), in the documented order
      expect(imds.requests).toEqual([
        "PUT /latest/api/token 200",
        `GET ${prefix} 200`,
        `GET ${prefix}${RGW_ROLE} 200`,
      ]);
    });

    it("renews the instance role's keys when under 5 minutes of their life remain", async () => {
      handedOut = 0;
      expiresIn = 4 * 60_000; // IMDS hands out the next keys at least 5 minutes before expiry
      const { store } = chained("imds-renew", { imds: { endpoint: imds.url } });
      await store.setup();
      await store.put("t/d/a", "a");
      expect(handedOut).toBeGreaterThanOrEqual(2);
      expiresIn = 3600_000;
      handedOut = 0;
      await store.put("t/d/b", "b"); // renewed once more, now for an hour
      await store.put("t/d/c", "c");
      expect(handedOut).toBe(1);
    });

    it("environment keys come first: IMDS is not asked", async () => {
      imds.requests.length = 0;
      const { store } = chained("env", {
        env: {
          accessKeyId: role.accessKeyId,
          secretAccessKey: role.secretAccessKey,
          sessionToken: role.sessionToken,
        },
        sharedCredentialsFile: "/nonexistent/credentials",
        imds: { endpoint: imds.url },
      });
      await exercise(store);
      expect(imds.requests).toEqual([]);
    });

    it("then the shared credentials file's profile, before IMDS", async () => {
      imds.requests.length = 0;
      const dir = await mkdtemp(join(tmpdir(), "docfleet-aws-"));
      try {
        const file = join(dir, "credentials");
        await writeFile(
          file,
          [
            "[default]",
            "aws_access_key_id = AKIDDEFAULT",
            "aws_secret_access_key = not-this-one",
            "",
            "# the profile docfleet runs as",
            `[docfleet]`,
            `aws_access_key_id = ${role.accessKeyId}`,
            `aws_secret_access_key=${role.secretAccessKey}`,
            `aws_session_token = ${role.sessionToken}`,
            "",
          ].join("\n"),
        );
        const { store } = chained("file", {
          env: {},
          sharedCredentialsFile: file,
          profile: "docfleet",
          imds: { endpoint: imds.url },
        });
        await exercise(store);
        expect(imds.requests).toEqual([]);
        // the default profile's keys are radosgw's to refuse
        const { store: wrong } = chained("file-default", { sharedCredentialsFile: file, imds: noImds() });
        const err = await wrong.setup().then(
          () => null,
          (e: Error & { code?: string }) => e,
        );
        expect(err).toMatchObject({ code: expect.stringMatching(/^(AccessDenied|InvalidAccessKeyId)$/) });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it("no source has credentials: setup fails naming each source and why", async () => {
      const { store } = chained("none", {
        sharedCredentialsFile: "/nonexistent/credentials",
        imds: noImds(),
      });
      const err = await store.setup().then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(/no S3 credentials/);
      expect(err?.message).toMatch(/AWS_ACCESS_KEY_ID/);
      expect(err?.message).toMatch(/\/nonexistent\/credentials does not exist/);
      expect(err?.message).toMatch(
        /IMDSv2 at http:\/\/127\.0\.0\.1:\d+\): PUT \/latest\/api\/token: ECONNREFUSED/,
      );
      const off = chained("off", { imds: { disabled: true } });
      await expect(off.store.setup()).rejects.toThrow(/AWS_EC2_METADATA_DISABLED/);
    });

    it("the stand-in refuses what IMDSv2 refuses: no token, a forged token, a forwarded token request", async () => {
      // as on an instance with http_tokens = "required" (infra/terraform's launch templates)
      const res = await fetch(`${imds.url}/latest/meta-data/iam/security-credentials/`);
      expect(res.status).toBe(401);
      const bad = await fetch(`${imds.url}/latest/meta-data/iam/security-credentials/${RGW_ROLE}`, {
        headers: { "X-aws-ec2-metadata-token": "forged" },
      });
      expect(bad.status).toBe(401);
      const xff = await fetch(`${imds.url}/latest/api/token`, {
        method: "PUT",
        headers: { "X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.1" },
      });
      expect(xff.status).toBe(403);
    });
  });
});

/** A port nothing listens on (bound, then released). */
async function freeClosedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

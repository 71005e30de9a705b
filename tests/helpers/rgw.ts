import { randomBytes } from "node:crypto";
import { Client } from "minio";
import { AssumeRoleProvider } from "minio/dist/esm/AssumeRoleProvider.mjs";
import { describe, it } from "vitest";
import type { RoleCredentials } from "./imds-stand-in.ts";

/**
 * The Ceph radosgw a test run shares: a real S3 server that checks V4 signatures, POST policies,
 * multipart and CORS (s3rver checks none of them). `.ci/run` starts one (`.ci/rgw-start.sh`) and
 * exports RGW_URL, RGW_ACCESS_KEY and RGW_SECRET_KEY; each test file makes its own buckets on it.
 * To run these tests locally:
 *
 *   .ci/rgw-start.sh /tmp/docfleet-rgw         # prints http://127.0.0.1:17480
 *   RGW_URL=http://127.0.0.1:17480 npx vitest run tests/object-store-rgw.test.ts
 *   .ci/rgw-stop.sh /tmp/docfleet-rgw
 */
export interface Rgw {
  url: string;
  accessKey: string;
  secretKey: string;
}

export const RGW: Rgw | null = process.env.RGW_URL
  ? {
      url: process.env.RGW_URL,
      accessKey: process.env.RGW_ACCESS_KEY ?? "docfleetak",
      secretKey: process.env.RGW_SECRET_KEY ?? "docfleetsk",
    }
  : null;

const MISSING =
  "no radosgw: RGW_URL is not set (start one with .ci/rgw-start.sh DIR and export RGW_URL; " +
  "install with apt-get install radosgw ceph-mon ceph-osd)";

/**
 * `describe` for tests that need radosgw. Without RGW_URL they are skipped with the reason, except in
 * CI (CI=true), where a missing radosgw is a failure: CI must not pass by proving less.
 */
export function describeRgw(name: string, fn: (rgw: Rgw) => void): void {
  if (RGW) {
    const rgw = RGW;
    describe(name, () => fn(rgw));
  } else if (process.env.CI === "true" || process.env.CI === "1") {
    describe(name, () => {
      it("has a radosgw to run against", () => {
        throw new Error(`${MISSING}; .ci/run starts it, see its output for why it did not`);
      });
    });
  } else {
    describe.skip(`${name} (skipped: ${MISSING})`, () => fn({ url: "", accessKey: "", secretKey: "" }));
  }
}

/** minio's client for radosgw itself, for what the tests do beside the adapter (buckets, cleanup). */
export function rgwClient(rgw: Rgw, secretKey = rgw.secretKey): Client {
  const u = new URL(rgw.url);
  return new Client({
    endPoint: u.hostname,
    port: Number(u.port || 80),
    useSSL: u.protocol === "https:",
    accessKey: rgw.accessKey,
    secretKey,
    region: "us-east-1",
    pathStyle: true,
  });
}

/** A bucket name no other test file uses. */
export function rgwBucketName(label: string): string {
  return `docfleet-${label}-${randomBytes(4).toString("hex")}`;
}

/** Deletes every object and unfinished multipart upload of `bucket`, then the bucket. */
export async function removeRgwBucket(rgw: Rgw, bucket: string): Promise<void> {
  const c = rgwClient(rgw);
  if (!(await c.bucketExists(bucket))) return;
  const names: string[] = [];
  for await (const o of c.listObjectsV2(bucket, "", true)) if (o.name) names.push(o.name);
  for (let i = 0; i < names.length; i += 1000) await c.removeObjects(bucket, names.slice(i, i + 1000));
  const uploads: { key: string }[] = [];
  for await (const u of c.listIncompleteUploads(bucket, "", true)) uploads.push(u as { key: string });
  for (const u of uploads) await c.removeIncompleteUpload(bucket, u.key);
  await c.removeBucket(bucket);
}

/** The role .ci/rgw-start.sh creates, which the test user may assume; it may do anything on S3. */
export const RGW_ROLE = "docfleet-instance";

/**
 * Temporary credentials of a session of RGW_ROLE from radosgw's STS (AssumeRole, signed with the test
 * user's keys): an access key, a secret and a session token that radosgw checks, as an EC2 instance
 * role hands out. Each call starts a new session.
 */
export async function rgwRoleCredentials(rgw: Rgw, durationSeconds = 3600): Promise<RoleCredentials> {
  const provider = new AssumeRoleProvider({
    stsEndpoint: rgw.url,
    accessKey: rgw.accessKey,
    secretKey: rgw.secretKey,
    roleArn: `arn:aws:iam:::role/${RGW_ROLE}`,
    roleSessionName: `docfleet-test-${randomBytes(4).toString("hex")}`,
    durationSeconds,
  });
  const startedAt = Date.now();
  const c = await provider.getCredentials();
  const sessionToken = c.getSessionToken();
  if (!c.getAccessKey() || !c.getSecretKey() || !sessionToken)
    throw new Error("radosgw's STS answered no temporary credentials (is `rgw s3 auth use sts` on?)");
  return {
    accessKeyId: c.getAccessKey(),
    secretAccessKey: c.getSecretKey(),
    sessionToken,
    // minio keeps the Expiration it read to itself; the session lasts durationSeconds from the request
    expiration: new Date(startedAt + durationSeconds * 1000),
  };
}

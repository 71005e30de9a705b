import { S3ObjectStore } from "@docfleet/pipeline/adapters/objectstore/s3";
import { describe, expect, it } from "vitest";

// s3rver accepts any POST whatever its policy says, so the policy the adapter signs is checked here,
// field by field. No server: with the region configured, signing sends no request (port 9 is closed).
function store(publicUrl?: string) {
  return new S3ObjectStore({
    endPoint: "http://127.0.0.1:9",
    accessKey: "AKIDEXAMPLE",
    secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    bucket: "docfleet-uploads",
    region: "eu-west-1",
    ...(publicUrl ? { publicUrl } : {}),
  });
}

interface Policy {
  expiration: string;
  conditions: (Record<string, string> | (string | number)[])[];
}

function decodePolicy(fields: Record<string, string>): Policy {
  expect(fields.policy).toBeDefined();
  return JSON.parse(Buffer.from(fields.policy ?? "", "base64").toString("utf8")) as Policy;
}

/** The value a policy requires for `$name`, whichever of S3's two spellings it uses. */
function exactCondition(policy: Policy, name: string): unknown[] {
  return policy.conditions.flatMap((c) => {
    if (Array.isArray(c)) return c[0] === "eq" && c[1] === `$${name}` ? [c[2]] : [];
    return name in c ? [c[name]] : [];
  });
}

describe("s3 object store: signed upload policy", () => {
  it("binds the exact key, the size range, the bucket and the expiry", async () => {
    const key = "tenant-1/doc-42/original";
    const before = Date.now();
    const target = await store().createUploadTarget(key, { maxSize: 10_485_760, ttlSeconds: 900 });
    const policy = decodePolicy(target.fields);

    expect(exactCondition(policy, "key")).toEqual([key]);
    // no prefix condition that would let the holder write elsewhere
    expect(policy.conditions.some((c) => Array.isArray(c) && c[0] === "starts-with")).toBe(false);
    expect(policy.conditions).toContainEqual(["content-length-range", 0, 10_485_760]);
    expect(exactCondition(policy, "bucket")).toEqual(["docfleet-uploads"]);
    expect(exactCondition(policy, "x-amz-algorithm")).toEqual(["AWS4-HMAC-SHA256"]);
    const credential = exactCondition(policy, "x-amz-credential")[0];
    expect(credential).toMatch(/^AKIDEXAMPLE\/\d{8}\/eu-west-1\/s3\/aws4_request$/);

    const expiration = Date.parse(policy.expiration);
    expect(Math.abs(expiration - (before + 900_000))).toBeLessThanOrEqual(5_000);
    expect(Math.abs(target.expiresAt.getTime() - expiration)).toBeLessThanOrEqual(1_000);

    // the form carries what the policy requires, policy and signature last before the file
    expect(target.fields.key).toBe(key);
    expect(target.fields.bucket).toBe("docfleet-uploads");
    expect(target.fields["x-amz-credential"]).toBe(credential);
    expect(target.fields["x-amz-signature"]).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.keys(target.fields).slice(-2)).toEqual(["policy", "x-amz-signature"]);
    expect(target.url).toBe("http://127.0.0.1:9/docfleet-uploads");
  });

  it("signs for the public endpoint when it differs from the internal one", async () => {
    const s = store("https://files.example.com");
    const target = await s.createUploadTarget("t/d/original", { maxSize: 1, ttlSeconds: 60 });
    expect(target.url).toBe("https://files.example.com/docfleet-uploads");
    const url = new URL(await s.createDownloadUrl("t/d/original", { ttlSeconds: 60 }));
    expect(url.origin).toBe("https://files.example.com");
    expect(url.pathname).toBe("/docfleet-uploads/t/d/original");
  });

  it("presigns a GET that expires after the ttl and names the download", async () => {
    const url = new URL(
      await store().createDownloadUrl("t/d/original", { ttlSeconds: 600, fileName: "report 2024.pdf" }),
    );
    expect(url.searchParams.get("X-Amz-Expires")).toBe("600");
    expect(url.searchParams.get("X-Amz-Algorithm")).toBe("AWS4-HMAC-SHA256");
    expect(url.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
    const signedAt = url.searchParams.get("X-Amz-Date") ?? "";
    const iso = signedAt.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, "$1-$2-$3T$4:$5:$6Z");
    expect(Math.abs(Date.parse(iso) - Date.now())).toBeLessThanOrEqual(5_000);
    expect(url.searchParams.get("response-content-disposition")).toBe(
      "attachment; filename*=UTF-8''report%202024.pdf",
    );
  });

  it("refuses bad keys, ttls and sizes before signing anything", async () => {
    const s = store();
    for (const key of ["../x", "/t/d", "t//d", "t/../d", "t/d/", ""]) {
      await expect(s.createUploadTarget(key, { maxSize: 1, ttlSeconds: 60 })).rejects.toThrow(
        /invalid object key/,
      );
      await expect(s.createDownloadUrl(key, { ttlSeconds: 60 })).rejects.toThrow(/invalid object key/);
    }
    for (const ttlSeconds of [0, -1, 1.5, 7 * 24 * 3600 + 1]) {
      await expect(s.createUploadTarget("t/d", { maxSize: 1, ttlSeconds })).rejects.toBeInstanceOf(
        RangeError,
      );
      await expect(s.createDownloadUrl("t/d", { ttlSeconds })).rejects.toBeInstanceOf(RangeError);
    }
    await expect(s.createUploadTarget("t/d", { maxSize: -1, ttlSeconds: 60 })).rejects.toBeInstanceOf(
      RangeError,
    );
  });

  it("rejects an endpoint with a path, which the signature could not cover", () => {
    expect(() => store("https://example.com/s3")).toThrow(/no path/);
  });
});

import { describe, expect, it } from "vitest";
import { SecretBox } from "../secret-box.ts";
import { signWebhook, verifyWebhookSignature } from "../webhook-signature.ts";
import {
  DEFAULT_WEBHOOK_SETTINGS,
  isNonPublicAddress,
  webhookBackoffMs,
  webhookEvents,
  webhookUrl,
} from "./webhooks.ts";

describe("webhook signatures", () => {
  const secret = "whsec_test-secret-0123456789";
  const body = '{"id":"b.1","type":"document.completed"}';

  it("verify what was signed, within the tolerance, in constant time", () => {
    const header = signWebhook(secret, body, 1_800_000_000);
    expect(header).toMatch(/^t=1800000000,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature({ secret, body, header, now: 1_800_000_100 })).toEqual({
      ok: true,
      timestamp: 1_800_000_000,
    });
    expect(verifyWebhookSignature({ secret, body: Buffer.from(body), header, now: 1_800_000_000 }).ok).toBe(
      true,
    );
  });

  it("refuse another secret, another body, an old timestamp, a moved timestamp and garbage", () => {
    const header = signWebhook(secret, body, 1_800_000_000);
    const now = 1_800_000_000;
    expect(verifyWebhookSignature({ secret: `${secret}x`, body, header, now })).toEqual({
      ok: false,
      reason: "mismatch",
    });
    expect(verifyWebhookSignature({ secret, body: `${body} `, header, now })).toEqual({
      ok: false,
      reason: "mismatch",
    });
    expect(verifyWebhookSignature({ secret, body, header, now: now + 301 })).toEqual({
      ok: false,
      reason: "expired",
    });
    // the timestamp is signed: changing it breaks the signature
    expect(
      verifyWebhookSignature({ secret, body, header: header.replace("t=1800000000", "t=1800000100"), now }),
    ).toEqual({
      ok: false,
      reason: "mismatch",
    });
    for (const h of [undefined, "", "t=abc,v1=00", `v1=${"0".repeat(64)}`, "t=1800000000"])
      expect(verifyWebhookSignature({ secret, body, header: h, now })).toEqual({
        ok: false,
        reason: "malformed",
      });
    // one good v1 among several (a rotation) passes
    const two = `${header},v1=${"0".repeat(64)}`;
    expect(verifyWebhookSignature({ secret, body, header: two, now }).ok).toBe(true);
  });
});

describe("SecretBox", () => {
  it("round-trips, binds the ciphertext to its row, and refuses another key", () => {
    const box = new SecretBox("k".repeat(40), "purpose");
    const sealed = box.seal("whsec_abc", "row-1");
    expect(sealed).not.toContain("whsec_abc");
    expect(box.seal("whsec_abc", "row-1")).not.toBe(sealed); // a fresh IV each time
    expect(box.open(sealed, "row-1")).toBe("whsec_abc");
    expect(() => box.open(sealed, "row-2")).toThrow();
    expect(() => new SecretBox("j".repeat(40), "purpose").open(sealed, "row-1")).toThrow();
    expect(() => new SecretBox("k".repeat(40), "another purpose").open(sealed, "row-1")).toThrow();
  });
});

describe("webhook rules", () => {
  it("back off exponentially with jitter, capped", () => {
    const s = { ...DEFAULT_WEBHOOK_SETTINGS, baseDelayMs: 1000, maxDelayMs: 10_000 };
    expect([1, 2, 3, 4, 5, 6].map((a) => webhookBackoffMs(a, s, () => 0))).toEqual([
      500, 1000, 2000, 4000, 5000, 5000,
    ]);
    expect([1, 2, 3, 4, 5, 6].map((a) => webhookBackoffMs(a, s, () => 1))).toEqual([
      1000, 2000, 4000, 8000, 10_000, 10_000,
    ]);
  });

  it("take http(s) URLs only, and known event types", () => {
    expect(webhookUrl(" https://example.com/hook ")).toBe("https://example.com/hook");
    for (const u of ["file:///etc/passwd", "javascript:alert(1)", "ftp://x/", "http://a:b@x/", "not a url"])
      expect(() => webhookUrl(u)).toThrow(/BAD_REQUEST|webhook URL|not a URL/);
    expect(webhookEvents(["document.failed", "document.completed", "document.failed"])).toEqual([
      "document.completed",
      "document.failed",
    ]);
    expect(() => webhookEvents(["document.exploded"])).toThrow(/unknown event types/);
    expect(() => webhookEvents([])).toThrow(/at least one/);
  });

  it("refuse loopback, private, link-local and reserved targets unless private targets are allowed", () => {
    const nonPublic = [
      "127.0.0.1",
      "127.8.8.8",
      "10.1.2.3",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "224.0.0.1",
      "255.255.255.255",
      "::1",
      "::",
      "fe80::1",
      "fd00::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "::ffff:a9fe:a9fe",
      "64:ff9b::10.0.0.1",
    ];
    const publicOnes = ["93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"];
    expect(nonPublic.filter((a) => !isNonPublicAddress(a))).toEqual([]);
    expect(publicOnes.filter((a) => isNonPublicAddress(a))).toEqual([]);
    expect(isNonPublicAddress("example.com")).toBe(false);
    for (const u of [
      "http://127.0.0.1:8080/hook",
      "http://localhost/hook",
      "http://api.localhost/hook",
      "http://[::1]/hook",
      "http://169.254.169.254/latest/meta-data/",
      "http://[::ffff:127.0.0.1]/",
      "http://10.0.0.5/",
      "http://2130706433/", // 127.0.0.1 as one number: URL normalises it
      "http://0x7f.1/",
    ]) {
      expect(() => webhookUrl(u), u).toThrow(/public address/);
      expect(webhookUrl(u, { allowPrivate: true }), u).toMatch(/^http:/);
    }
    expect(webhookUrl("https://hooks.example.com/x")).toBe("https://hooks.example.com/x");
  });
});

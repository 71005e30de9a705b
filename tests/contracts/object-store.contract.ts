import { ObjectNotFoundError, type ObjectStore } from "@docfleet/pipeline/ports/object-store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

export interface ObjectStoreFixture {
  store: ObjectStore;
  close(): Promise<void>;
  /**
   * Set, with the reason, when the server behind the store accepts uploads that break the signed policy
   * (a test double such as s3rver); the tests of refusal are then skipped, not passed.
   */
  policyNotEnforced?: string;
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
  });
}

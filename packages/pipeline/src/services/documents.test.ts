import { randomUUID } from "node:crypto";
import { describe, expect } from "vitest";
import { objectKeys } from "../domain/context.ts";
import { serviceTest as test } from "./test-resources.ts";

describe("DocumentFilesService", () => {
  test("hands out the tenant's own files: signed URLs and the start of the text", async ({
    env,
    tenantId,
  }) => {
    const { documents } = env.services();
    const id = randomUUID();
    const textKey = objectKeys.text(tenantId, id);
    await env.deps.store.put(textKey, `${"a".repeat(100_000)}and beyond`);
    const text = await documents.text(tenantId, { textKey });
    expect(text).toHaveLength(100_000);
    expect(await documents.text(tenantId, { textKey: null })).toBeNull();

    const url = new URL(
      await documents.downloadUrl(tenantId, { objectKey: objectKeys.original(tenantId, id), name: "r.pdf" }),
    );
    expect(url.origin).toBe("http://127.0.0.1:9");
    expect(url.pathname).toBe(`/objects/${tenantId}/${id}/original`);
    expect(url.searchParams.get("name")).toBe("r.pdf");
    expect(url.searchParams.get("signature")).toBeTruthy();
    expect(await documents.thumbnailUrl(tenantId, { thumbnailKey: null })).toBeNull();
    expect(
      await documents.thumbnailUrl(tenantId, { thumbnailKey: objectKeys.thumbnail(tenantId, id) }),
    ).toContain(`/objects/${tenantId}/${id}/thumbnail.webp?`);
  });

  test("refuses a key outside the caller's tenant prefix", async ({ env, tenantId }) => {
    const { documents } = env.services();
    const other = randomUUID();
    const textKey = objectKeys.text(other, randomUUID());
    await env.deps.store.put(textKey, "not yours");
    await expect(documents.text(tenantId, { textKey })).rejects.toThrow(/tenant prefix/);
    // (downloadUrl throws before it returns a promise: `async` here catches either way.)
    await expect(async () =>
      documents.downloadUrl(tenantId, { objectKey: `${other}/x/original`, name: "x" }),
    ).rejects.toThrow(/tenant prefix/);
    // A tenant id that is a prefix of another's is not its prefix.
    await expect(
      documents.thumbnailUrl(tenantId.slice(0, 8), { thumbnailKey: `${tenantId}/x/thumbnail.webp` }),
    ).rejects.toThrow(/tenant prefix/);
  });
});

import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
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

  test("previews safe types inline (issue 18); HTML and SVG stay attachments whatever is asked", async ({
    env,
    tenantId,
  }) => {
    const { documents } = env.services();
    const served = async (url: string) => {
      // the service env's store has no socket: answer the signed URL through its handler
      const server = createServer((req, res) => void env.deps.store.handleHttp!(req, res));
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      try {
        const u = new URL(url);
        const port = (server.address() as { port: number }).port;
        const res = await fetch(`http://127.0.0.1:${port}${u.pathname}${u.search}`);
        await res.arrayBuffer();
        return res.headers;
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    };
    for (const [type, name, want] of [
      ["application/pdf", "scan.pdf", /^inline; filename\*=UTF-8''scan\.pdf$/],
      ["text/html", "page.html", /^attachment; /],
      ["image/svg+xml", "logo.svg", /^attachment; /],
    ] as const) {
      const id = randomUUID();
      const objectKey = objectKeys.original(tenantId, id);
      await env.deps.store.put(objectKey, "<html><script>alert(1)</script>", type);
      const headers = await served(
        await documents.downloadUrl(tenantId, { objectKey, name, detectedType: type }, { inline: true }),
      );
      expect(headers.get("content-disposition"), type).toMatch(want);
      expect(headers.get("x-content-type-options"), type).toBe("nosniff");
      // without asking: an attachment
      const plain = await served(
        await documents.downloadUrl(tenantId, { objectKey, name, detectedType: type }),
      );
      expect(plain.get("content-disposition"), type).toMatch(/^attachment; /);
    }
    const id = randomUUID();
    await env.deps.store.put(objectKeys.thumbnail(tenantId, id), "webp", "image/webp");
    const thumb = await served(
      (await documents.thumbnailUrl(tenantId, { thumbnailKey: objectKeys.thumbnail(tenantId, id) }))!,
    );
    expect([thumb.get("content-type"), thumb.get("content-disposition")]).toEqual(["image/webp", "inline"]);
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

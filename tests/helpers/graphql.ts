import { createHash } from "node:crypto";
import { gql } from "./cli.ts";

/**
 * Registers `files` in a batch through GraphQL and POSTs each to its upload target (the flow a
 * frontend runs); returns the document ids, not yet queued (`completeUploads` queues them).
 */
export async function uploadFiles(
  url: string,
  batchId: string,
  files: readonly { name: string; bytes: Buffer }[],
  parallel = 16,
): Promise<string[]> {
  const { requestUploads } = await gql<{
    requestUploads: {
      status: string;
      documentId: string;
      target: { url: string; fields: { name: string; value: string }[] } | null;
    }[];
  }>(
    url,
    `mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) {
      status documentId target { url fields { name value } } } }`,
    {
      b: batchId,
      f: files.map((f) => ({
        name: f.name,
        size: f.bytes.length,
        sha256: createHash("sha256").update(f.bytes).digest("hex"),
      })),
    },
  );
  const notNew = requestUploads.filter((r) => r.status !== "UPLOAD");
  if (notNew.length)
    throw new Error(`expected every file to be new, got ${notNew.map((r) => r.status).join(", ")}`);
  for (let i = 0; i < requestUploads.length; i += parallel) {
    await Promise.all(
      requestUploads.slice(i, i + parallel).map(async (r, k) => {
        const file = files[i + k]!;
        const form = new FormData();
        for (const f of r.target!.fields) form.append(f.name, f.value);
        form.append("file", new Blob([new Uint8Array(file.bytes)]), file.name);
        const res = await fetch(r.target!.url, { method: "POST", body: form });
        if (res.status >= 300) throw new Error(`upload of ${file.name} answered ${res.status}`);
      }),
    );
  }
  return requestUploads.map((r) => r.documentId);
}

/** Queues uploaded documents. */
export async function completeUploads(url: string, ids: readonly string[]): Promise<void> {
  await gql(url, "mutation($ids: [ID!]!) { completeUploads(documentIds: $ids) { status } }", { ids });
}

/**
 * The JSON payloads of a GraphQL-over-SSE response (`text/event-stream`), as they arrive. Ends when
 * the stream ends; throws when the connection breaks. Cancels the stream when the caller stops.
 */
export async function* sseMessages<T>(res: Response): AsyncGenerator<T> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const data = buffer
          .slice(0, end)
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).trim())
          .join("");
        buffer = buffer.slice(end + 2);
        if (data) yield JSON.parse(data) as T;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

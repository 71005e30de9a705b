import { createHash } from "node:crypto";
import { gql } from "./cli.ts";
import { deferred, within } from "./wait.ts";

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

/** One batchProgress message as `followBatches` selects it. */
export interface BatchProgressMessage {
  cursor: number;
  finished: boolean;
  counts: {
    total: number;
    pendingUpload: number;
    queued: number;
    processing: number;
    completed: number;
    failed: number;
    /** completed + failed */
    done: number;
  };
}

const FOLLOW = `subscription($id: ID!, $after: Int) { batchProgress(id: $id, after: $after) {
  cursor finished counts { total pendingUpload queued processing completed failed done } } }`;

/**
 * Follows batches over their batchProgress subscriptions (GraphQL over SSE: the event log replayed,
 * then live) until `until` holds for the latest message of each, and answers those messages. The
 * gateway pushes every change, so nothing polls; a message's counts are its batch's as of its last
 * event. Every stream is closed when it returns. Fails after `timeoutMs` with the last messages seen.
 */
export async function followBatches(
  url: string,
  batchIds: readonly string[],
  what: string,
  until: (latest: BatchProgressMessage[]) => boolean,
  // 50 s: inside vitest's 60 s test timeout, so a missed state fails with the last counts seen
  { timeoutMs = 50_000, headers = {} }: { timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<BatchProgressMessage[]> {
  const abort = new AbortController();
  const latest: (BatchProgressMessage | undefined)[] = batchIds.map(() => undefined);
  let lastAt = Date.now();
  const reached = deferred<BatchProgressMessage[]>();
  const follow = async (batchId: string, i: number) => {
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", ...headers },
      body: JSON.stringify({ query: FOLLOW, variables: { id: batchId, after: 0 } }),
      signal: abort.signal,
    });
    if (!res.ok) throw new Error(`batchProgress of ${batchId} answered ${res.status}: ${await res.text()}`);
    for await (const msg of sseMessages<{ data?: { batchProgress: BatchProgressMessage }; errors?: unknown }>(
      res,
    )) {
      if (msg.errors) throw new Error(`batchProgress of ${batchId}: ${JSON.stringify(msg.errors)}`);
      if (!msg.data) continue;
      latest[i] = msg.data.batchProgress;
      lastAt = Date.now();
      const all = latest.filter((m) => m !== undefined);
      if (all.length === batchIds.length && until(all)) return reached.resolve(all);
    }
    throw new Error(`the batchProgress stream of ${batchId} ended before ${what}`);
  };
  const streams = batchIds.map((id, i) =>
    follow(id, i).catch((err: unknown) => {
      if (!abort.signal.aborted) reached.reject(err);
    }),
  );
  try {
    // A stalled stream and a slow batch read differently: the counts, and how long since the last message.
    const detail = () => ({
      batches: latest.map((m) => m && { cursor: m.cursor, ...m.counts }),
      lastMessageSecondsAgo: Math.round((Date.now() - lastAt) / 1000),
    });
    return await within(timeoutMs, what, reached.promise, { detail });
  } finally {
    abort.abort();
    await Promise.all(streams);
  }
}

/** `followBatches` for one batch: its first message for which `until` holds. */
export async function followBatch(
  url: string,
  batchId: string,
  what: string,
  until: (m: BatchProgressMessage) => boolean,
  opts?: Parameters<typeof followBatches>[4],
): Promise<BatchProgressMessage> {
  return (await followBatches(url, [batchId], what, ([m]) => until(m!), opts))[0]!;
}

/**
 * Runs a subscription client `run` that calls `first()` on its first message, and answers beside its
 * result `subscribed`: that first message (within 60 s). The gateway registers a subscription's live
 * listener before it replays the event log (gateway eventStream), so a subscription to a batch that
 * already holds an event (requestUploads writes `documents.requested`) is live once its first message
 * is in: what happens after reaches it live, not through the replay.
 */
export function whenSubscribed<T>(run: (first: () => void) => Promise<T>): {
  subscribed: Promise<void>;
  result: Promise<T>;
} {
  const first = deferred();
  const result = run(() => first.resolve());
  result.then(() => first.reject(new Error("the subscription ended before its first message")), first.reject);
  const subscribed = within(60_000, "the subscription's first message", first.promise);
  subscribed.catch(() => undefined); // a caller that reads only `result` hears a failure there
  return { subscribed, result };
}

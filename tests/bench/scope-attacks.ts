/**
 * Issue 15's attacks on scopes and subscriptions (hole 3, the subscription items), rerun against a
 * running docfleet with their figures.
 *
 *   node --expose-gc --import tsx tests/bench/scope-attacks.ts [subscriptions=5000]
 *
 * docfleet runs in this process (tests/helpers/system.ts: gateway, PGlite, memory queue), keys off.
 * 1. An upload-only key asks requestUploads { document { batch { documents { ... text downloadUrl } } } }
 *    and sends a known file's sha256 and size into a batch of its own: what it gets back.
 * 2. One graphql-ws socket sends `subscriptions` subscribe messages for one batch: accepted, refused,
 *    the time until every one is answered, the heap and RSS while open and after the socket closed.
 * Prints one line per figure; exits 1 when an attack got through.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiKeys } from "@docfleet/pipeline";
import { WebSocket } from "ws";
import { inProcessSystem } from "../helpers/system.ts";

const N = Number(process.argv[2] ?? 5000);
const dir = await mkdtemp(join(tmpdir(), "docfleet-scope-attacks-"));
const system = await inProcessSystem(join(dir, "data"), {
  env: { DOCFLEET_LOG_LEVEL: "silent" },
  allowAnonymous: false,
});
let failed = false;
const mb = (n: number) => `${Math.round(n / 1048576)} MB`;
const line = (s: string) => process.stdout.write(`${s}\n`);
try {
  const keys = new ApiKeys(system.deps.db);
  const tenantId = (await keys.tenantByName("attacked", { create: true }))!.id;
  const bearer = async (scopes: ("read" | "upload" | "admin")[]) =>
    `Bearer ${(await keys.create({ tenantId, name: scopes.join("+"), scopes })).secret}`;
  const admin = await bearer(["admin"]);
  const upload = await bearer(["upload"]);
  const gql = async (key: string, query: string, variables: Record<string, unknown> = {}) => {
    const res = await fetch(`${system.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: key },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as {
      data?: Record<string, unknown>;
      errors?: { message: string; extensions?: { code?: string } }[];
    };
  };
  const batch = async (key: string, name: string) =>
    (
      (await gql(key, "mutation($n: String!) { createBatch(input: { name: $n }) { id } }", { n: name })).data!
        .createBatch as { id: string }
    ).id;
  // The archive: one file registered by the admin.
  const archive = await batch(admin, "archive");
  const bytes = randomBytes(64);
  const file = {
    name: "private.txt",
    size: bytes.length,
    sha256: createHash("sha256").update(bytes).digest("hex"),
  };
  const { data } = await gql(
    admin,
    "mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) { documentId target { url fields { name value } } } }",
    { b: archive, f: [file] },
  );
  const [up] = data!.requestUploads as {
    documentId: string;
    target: { url: string; fields: { name: string; value: string }[] };
  }[];
  const form = new FormData();
  for (const f of up!.target.fields) form.append(f.name, f.value);
  form.append("file", new Blob([new Uint8Array(bytes)]), file.name);
  await fetch(up!.target.url, { method: "POST", body: form });
  await gql(admin, "mutation($ids: [ID!]!) { completeUploads(documentIds: $ids) { status } }", {
    ids: [up!.documentId],
  });

  // 1. The upload key's read through a mutation's answer, and the DUPLICATE answer.
  const own = await batch(upload, "mine");
  const walk = await gql(
    upload,
    `mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) {
      status documentId batchId documentName
      document { id status name text downloadUrl batch { id name documents { edges { node { id name text downloadUrl } } } } } } }`,
    { b: own, f: [file, { name: "new.txt", size: 3, sha256: "1".repeat(64) }] },
  );
  const answers = (walk.data?.requestUploads ?? []) as Record<string, unknown>[];
  const leaked =
    JSON.stringify(answers).includes(archive) || JSON.stringify(answers).includes('downloadUrl":"http');
  line(
    `1. upload-only key, requestUploads{document{batch{documents{text downloadUrl}}}}: errors ${[
      ...new Set((walk.errors ?? []).map((e) => `${e.extensions?.code}: ${e.message.split(" (")[0]}`)),
    ].join("; ")}`,
  );
  line(`   DUPLICATE of the archive's file: ${JSON.stringify(answers[0])}`);
  line(`   archive batch id or a download URL in the answer: ${leaked ? "YES" : "no"}`);
  if (leaked) failed = true;

  // 2. Subscriptions on one socket.
  global.gc?.();
  const base = process.memoryUsage();
  const ws = new WebSocket(`${system.url.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws");
  await new Promise((r) => ws.once("open", r));
  const answered = new Map<string, string>();
  let allAnswered: () => void = () => {};
  const done = new Promise<void>((r) => (allAnswered = r));
  let acked: () => void = () => {};
  const ack = new Promise<void>((r) => (acked = r));
  ws.on("message", (d) => {
    const m = JSON.parse(String(d)) as { type: string; id?: string };
    if (m.type === "connection_ack") return acked();
    if (m.id && !answered.has(m.id)) {
      answered.set(m.id, m.type);
      if (answered.size === N) allAnswered();
    }
  });
  ws.send(JSON.stringify({ type: "connection_init", payload: { authorization: await bearer(["read"]) } }));
  await ack;
  const started = performance.now();
  for (let i = 0; i < N; i++)
    ws.send(
      JSON.stringify({
        id: String(i),
        type: "subscribe",
        payload: {
          query: "subscription($id: ID!) { batchProgress(id: $id) { cursor } }",
          variables: { id: archive },
        },
      }),
    );
  await done;
  const seconds = (performance.now() - started) / 1000;
  const counts: Record<string, number> = {};
  for (const t of answered.values()) counts[t] = (counts[t] ?? 0) + 1;
  global.gc?.();
  const open = process.memoryUsage();
  ws.close();
  await new Promise((r) => ws.once("close", r));
  global.gc?.();
  const after = process.memoryUsage();
  line(
    `2. ${N} subscribe messages on one socket: ${JSON.stringify(counts)} (next: accepted and replayed, error: refused) in ${seconds.toFixed(1)} s`,
  );
  line(
    `   heap ${mb(base.heapUsed)} before, ${mb(open.heapUsed)} open, ${mb(after.heapUsed)} after close; rss ${mb(base.rss)} / ${mb(open.rss)} / ${mb(after.rss)}`,
  );
  if ((counts.next ?? 0) > 100) failed = true;
} finally {
  await system.stop();
  await rm(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

/**
 * The CORS table of issue 18: for the local store (served as the gateway serves /objects/*) and, with
 * RGW_URL set, a radosgw bucket set up with the same origin list, what a page of the allowed origin and
 * a page of another origin get for an upload (POST), a part (PUT) and a download (GET): the preflight's
 * status and Access-Control-Allow-Origin, then the actual request's.
 *
 *   RGW_URL=http://127.0.0.1:17480 node --import tsx tests/bench/cors-check.ts
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalObjectStore } from "@docfleet/pipeline/adapters/objectstore/local";
import { S3ObjectStore } from "@docfleet/pipeline/adapters/objectstore/s3";
import type { ObjectStore } from "@docfleet/pipeline/ports/object-store";
import { RGW, removeRgwBucket, rgwBucketName } from "../helpers/rgw.ts";

const ALLOWED = "https://console.docfleet.example";
const OTHER = "https://evil.example";
const rows: string[] = [
  "| store | request | origin | preflight | Allow-Origin | actual | Allow-Origin | ETag exposed |",
];
rows.push("|---|---|---|---|---|---|---|---|");

async function table(name: string, store: ObjectStore) {
  await store.setup();
  await store.put("t/d/original", "%PDF-1.7 cors", "application/pdf");
  const target = await store.createUploadTarget("t/d/upload", { maxSize: 3, minSize: 3, ttlSeconds: 300 });
  const mp = await store.createMultipartUpload("t/m/upload", {
    size: 4,
    partSize: 5 * 1024 * 1024,
    ttlSeconds: 300,
  });
  const download = await store.createDownloadUrl("t/d/original", { ttlSeconds: 300 });
  for (const origin of [ALLOWED, OTHER]) {
    const cases: [string, string, () => RequestInit][] = [
      [
        "upload POST",
        target.url,
        () => {
          const form = new FormData();
          for (const [k, v] of Object.entries(target.fields)) form.append(k, v);
          form.append("file", new Blob([new Uint8Array(3)]), "f");
          return { method: "POST", body: form };
        },
      ],
      ["part PUT", mp.parts[0]!.url, () => ({ method: "PUT", body: new Uint8Array(Buffer.from("four")) })],
      ["download GET", download, () => ({ method: "GET" })],
    ];
    for (const [what, url, init] of cases) {
      const method = what.split(" ")[1]!;
      const pre = await fetch(url, {
        method: "OPTIONS",
        headers: { Origin: origin, "Access-Control-Request-Method": method },
      });
      await pre.arrayBuffer();
      const req = init();
      const actual = await fetch(url, { ...req, headers: { Origin: origin } });
      await actual.arrayBuffer();
      rows.push(
        `| ${name} | ${what} | ${origin === ALLOWED ? "allowed" : "other"} | ${pre.status} | ${pre.headers.get("access-control-allow-origin") ?? "none"} | ${actual.status} | ${actual.headers.get("access-control-allow-origin") ?? "none"} | ${/etag/i.test(actual.headers.get("access-control-expose-headers") ?? "") ? "yes" : "no"} |`,
      );
    }
  }
  await store.abortMultipartUpload("t/m/upload", mp.uploadId);
}

const root = await mkdtemp(join(tmpdir(), "docfleet-cors-"));
let local!: LocalObjectStore;
const server = createServer((req, res) => void local.handleHttp(req, res));
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
local = new LocalObjectStore({ root, publicUrl: url, secret: "s".repeat(32), corsOrigins: [ALLOWED, url] });
try {
  await table("local", local);
  if (RGW) {
    const bucket = rgwBucketName("cors-check");
    try {
      await table(
        "radosgw",
        new S3ObjectStore({
          endPoint: RGW.url,
          accessKey: RGW.accessKey,
          secretKey: RGW.secretKey,
          bucket,
          corsOrigins: [ALLOWED],
        }),
      );
    } finally {
      await removeRgwBucket(RGW, bucket);
    }
  }
  console.log(rows.join("\n"));
} finally {
  server.closeAllConnections();
  server.close();
  await rm(root, { recursive: true, force: true });
}

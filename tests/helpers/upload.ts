import { createHash, randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gql } from "./cli.ts";
import { inProcessSystem } from "./system.ts";

/** An embedded gateway in this process, without workers: uploads are all it does (and queues stay put). */
export async function embeddedGateway(dataDir: string, publicUrl?: (port: number) => string) {
  return inProcessSystem(dataDir, { publicUrl });
}

/** Writes `n` small files with distinct content in folders of 100; answers name → sha256. */
export async function writeFiles(dir: string, n: number): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const name = `d${String(Math.floor(i / 100)).padStart(3, "0")}/f${String(i).padStart(5, "0")}.txt`;
    const body = `file ${i} ${randomBytes(12).toString("hex")}\n`.repeat(1 + (i % 7));
    await mkdir(join(dir, name, ".."), { recursive: true });
    await writeFile(join(dir, name), body);
    files.set(name, createHash("sha256").update(body).digest("hex"));
  }
  return files;
}

interface DocumentsPage {
  documents: {
    edges: { node: { name: string; sha256: string; size: number; status: string } }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
}

/** Every document of a batch: name, sha256 and status, paged through GraphQL. */
export async function batchDocuments(url: string, batchId: string) {
  const docs: { name: string; sha256: string; size: number; status: string }[] = [];
  let after: string | null = null;
  for (;;) {
    const page: DocumentsPage = await gql<DocumentsPage>(
      url,
      `query($f: DocumentFilter, $after: String) { documents(filter: $f, first: 100, after: $after) {
        edges { node { name sha256 size status } } pageInfo { hasNextPage endCursor } } }`,
      { f: { batchId }, after },
    );
    const { documents } = page;
    docs.push(...documents.edges.map((e) => e.node));
    if (!documents.pageInfo.hasNextPage) return docs;
    after = documents.pageInfo.endCursor;
  }
}

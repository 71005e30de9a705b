import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { ApiKeys } from "@docfleet/pipeline";

/** The embedded mode's local admin key file, and what this start found there. */
export interface AdminKey {
  path: string;
  /**
   * created: a new key was written (first start, or its key is unknown to this database);
   * kept: the file holds a valid key; revoked / expired: left as an operator made it.
   */
  state: "created" | "kept" | "revoked" | "expired";
}

/**
 * Makes sure `path` holds a valid admin key of the local tenant. A revoked or expired key stays as
 * it is (recreating it would undo the revocation); one this database does not know (a new data
 * folder) is replaced.
 */
export async function ensureAdminKey(keys: ApiKeys, path: string, tenantId: string): Promise<AdminKey> {
  let secret = "";
  try {
    secret = (await readFile(path, "utf8")).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (secret) {
    const v = await keys.verify(`Bearer ${secret}`);
    if (v.ok) return { path, state: "kept" };
    if (v.reason === "revoked" || v.reason === "expired") return { path, state: v.reason };
  }
  const created = await keys.create({ tenantId, name: "local admin (docfleet serve)", scopes: ["admin"] });
  await mkdir(dirname(path), { recursive: true });
  // Written whole under another name, then renamed: never a half-written key file.
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${created.secret}\n`, { mode: 0o600 });
  await rename(tmp, path);
  return { path, state: "created" };
}

/** The line `docfleet serve` prints about its admin key (stderr). */
export function adminKeyNotice(k: AdminKey): string {
  switch (k.state) {
    case "created":
      return `created a local admin API key (tenant "local", scope admin), stored in ${k.path} (mode 0600); upload, watch and search use it for the default endpoint and data folder`;
    case "kept":
      return `admin key: ${k.path}`;
    default:
      return `admin key ${k.path} is ${k.state}; make another with: docfleet keys create --tenant local --scopes admin`;
  }
}

import { chmod, lstat, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { isMainThread } from "node:worker_threads";
import type { Logger } from "pino";

/**
 * Sets every file under `dir` that group or others may use to its owner's bits only, and every folder
 * to 0700; answers the paths it changed. PGlite chmods its files 0666 whatever the umask (968 files of
 * a new database), so its adapter calls this after it opened, migrated and closed the database.
 */
export async function closeTree(dir: string): Promise<string[]> {
  const fixed: string[] = [];
  const walk = async (path: string): Promise<void> => {
    const st = await lstat(path).catch(() => null); // null: removed while we walked (a database temp file)
    if (!st || st.isSymbolicLink()) return; // never follow a link out of the folder
    if ((st.mode & 0o077) !== 0) {
      await chmod(path, st.isDirectory() ? 0o700 : st.mode & 0o700);
      fixed.push(path);
    }
    if (!st.isDirectory()) return;
    for (const name of await readdir(path).catch(() => [] as string[])) await walk(join(path, name));
  };
  await walk(dir);
  return fixed;
}

/**
 * The embedded data folder holds the database (key hashes included), the stored originals and the
 * signing secret: only its owner may read or change anything in it (issue 15: the folder was 0755,
 * most database files 0666 and originals 0644). From now on the process creates its files 0600 and its
 * folders 0700 (umask 077, set for the process: an embedded start is the whole process), and a folder
 * an earlier version left open is closed here, with one warning that counts what changed.
 */
export async function protectDataDir(dir: string, log: Logger): Promise<{ fixed: number }> {
  // Worker threads cannot change the umask; the walk still closes what they find.
  if (isMainThread) process.umask(0o077);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Nobody else can reach anything below a folder only its owner may enter: walk (every file of a
  // large archive) only when the folder itself was open.
  if (((await lstat(dir)).mode & 0o077) === 0) return { fixed: 0 };
  const fixed = await closeTree(dir);
  log.warn(
    { dir, fixed: fixed.length, examples: fixed.slice(0, 5) },
    "the data folder was open to other local users: its folders are now 0700 and its files 0600",
  );
  return { fixed: fixed.length };
}

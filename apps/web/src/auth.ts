// The API key lives in this tab's sessionStorage only: closing the tab forgets it, other tabs and
// other sites never see it. `docfleet serve` offers its local admin key to its own pages
// (apps/gateway/src/console.ts `offersKeyTo`); a gateway never does.

export interface Session {
  /** Where the API is: this page's own origin unless the user named another gateway. */
  server: string;
  key: string;
}

const STORE = "docfleet.session";

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(STORE);
    if (!raw) return null;
    const s = JSON.parse(raw) as Partial<Session>;
    return typeof s.server === "string" && typeof s.key === "string"
      ? { server: s.server, key: s.key }
      : null;
  } catch {
    return null;
  }
}

export function saveSession(s: Session): void {
  sessionStorage.setItem(STORE, JSON.stringify(s));
}

export function clearSession(): void {
  sessionStorage.removeItem(STORE);
}

/** The local admin key when the page came from `docfleet serve` on this machine; else undefined. */
export async function fetchLocalKey(): Promise<string | undefined> {
  try {
    const res = await fetch("/console/local-key", {
      headers: { "x-docfleet-console": "1" },
      cache: "no-store",
      credentials: "omit",
    });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { key?: unknown };
    return typeof body.key === "string" && body.key ? body.key : undefined;
  } catch {
    return undefined;
  }
}

/** The server's origin spelled as a URL without a trailing slash; throws on anything but http(s). */
export function normalServer(input: string): string {
  const u = new URL(input.trim() || window.location.origin, window.location.href);
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("the server must be an http(s) URL");
  return u.origin;
}

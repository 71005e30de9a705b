import { type FormEvent, useEffect, useState } from "react";
import { fetchLocalKey, normalServer, type Session } from "../auth.ts";
import { createApi, errorText } from "../client.ts";
import { CheckKey } from "../operations.ts";

/** Checks a key with one cheap query before keeping it. */
async function check(s: Session): Promise<string | null> {
  const api = createApi(s);
  try {
    const r = await api.urql.query(CheckKey, {}, { requestPolicy: "network-only" }).toPromise();
    return r.error ? errorText(r.error) : null;
  } finally {
    api.close();
  }
}

export function SignIn({ onSignedIn }: { onSignedIn(s: Session): void }) {
  const [server, setServer] = useState(window.location.origin);
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [local, setLocal] = useState<string | undefined>();

  useEffect(() => {
    void fetchLocalKey().then(setLocal);
  }, []);

  const signIn = async (s: Session) => {
    setBusy(true);
    setError(null);
    try {
      const problem = await check(s);
      if (problem) setError(problem);
      else onSignedIn(s);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    let s: Session;
    try {
      s = { server: normalServer(server), key: key.trim() };
    } catch (err) {
      setError((err as Error).message);
      return;
    }
    if (!s.key) setError("enter an API key");
    else void signIn(s);
  };

  return (
    <div className="signin">
      <h1>docfleet</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <label>
          Server
          <input name="server" value={server} onChange={(e) => setServer(e.target.value)} />
        </label>
        <label>
          API key
          <input
            name="key"
            type="password"
            autoComplete="off"
            value={key}
            onChange={(e) => setKey(e.target.value)}
            placeholder="dfk_…"
          />
        </label>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {local && (
          <button
            type="button"
            className="secondary"
            disabled={busy}
            onClick={() => void signIn({ server: window.location.origin, key: local })}
          >
            Use this server's local admin key
          </button>
        )}
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <p className="muted small">
          The key stays in this tab's session storage and is forgotten when the tab closes.
        </p>
      </form>
    </div>
  );
}

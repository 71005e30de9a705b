import { type FormEvent, useState } from "react";
import { useQuery } from "urql";
import { errorText } from "../client.ts";
import type { SearchMode } from "../generated/graphql.ts";
import { Search } from "../operations.ts";
import { Link, navigate, useLocation } from "../router.tsx";

const MODES: SearchMode[] = ["HYBRID", "KEYWORD", "VECTOR"];
const FACETS = ["category", "batch"];

/** Highlights come as text with <mark></mark> around matches: shown as such, everything else as text. */
function Highlight({ text }: { text: string }) {
  let at = 0;
  const parts = text.split(/(<mark>.*?<\/mark>)/g).map((p) => {
    const part = { p, at };
    at += p.length;
    return part;
  });
  return (
    <>
      {parts.map(({ p, at }) =>
        p.startsWith("<mark>") ? <mark key={at}>{p.slice(6, -7)}</mark> : <span key={at}>{p}</span>,
      )}
    </>
  );
}

export function SearchPage() {
  const { query } = useLocation();
  const q = query.get("q") ?? "";
  const mode = (MODES.find((m) => m === query.get("mode")) ?? "HYBRID") as SearchMode;
  const categories = query.getAll("category");
  // One field condition (`field` = `value`), and that field's facet.
  const field = query.get("field") ?? "";
  const value = query.get("value") ?? "";
  const [pages, setPages] = useState<string[]>([]);
  const [{ data, error, fetching }] = useQuery({
    query: Search,
    pause: !q,
    variables: {
      query: q,
      mode,
      first: 10,
      after: pages.at(-1) ?? null,
      facets: field ? [...FACETS, `field:${field}`] : FACETS,
      filter:
        categories.length || (field && value)
          ? {
              ...(categories.length ? { category: categories } : {}),
              ...(field && value ? { fields: [{ name: field, op: "EQ" as const, value }] } : {}),
            }
          : null,
    },
  });
  const go = (params: URLSearchParams) => {
    setPages([]);
    navigate(`/search?${params}`);
  };
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const p = new URLSearchParams({ q: String(f.get("q") ?? ""), mode: String(f.get("mode") ?? "HYBRID") });
    for (const k of ["field", "value"]) {
      const v = String(f.get(k) ?? "").trim();
      if (v) p.set(k, v);
    }
    for (const c of categories) p.append("category", c);
    go(p);
  };
  const toggleCategory = (value: string) => {
    const p = new URLSearchParams(query);
    const now = p.getAll("category");
    p.delete("category");
    for (const c of now.includes(value) ? now.filter((c) => c !== value) : [...now, value])
      p.append("category", c);
    go(p);
  };
  const r = data?.search;
  return (
    <section>
      <h1>Search</h1>
      <form className="filters" onSubmit={submit} key={query.toString()} aria-label="Search">
        <input name="q" defaultValue={q} placeholder="Search documents" aria-label="Query" size={40} />
        <select name="mode" defaultValue={mode} aria-label="Mode">
          {MODES.map((m) => (
            <option key={m}>{m}</option>
          ))}
        </select>
        <input
          name="field"
          defaultValue={field}
          placeholder="field (e.g. total)"
          aria-label="Field"
          size={14}
        />
        <input name="value" defaultValue={value} placeholder="equals" aria-label="Field value" size={14} />
        <button type="submit">Search</button>
      </form>
      {error && <p className="error">{errorText(error)}</p>}
      {fetching && !r && <p className="muted">Searching…</p>}
      {r && (
        <div className="columns search">
          <aside className="facets" data-testid="facets">
            {r.facets.map((f) => (
              <div key={f.field}>
                <h3>{f.field}</h3>
                <ul>
                  {f.buckets.map((b) => (
                    <li key={b.value}>
                      {f.field === "category" ? (
                        <label>
                          <input
                            type="checkbox"
                            checked={categories.includes(b.value)}
                            onChange={() => toggleCategory(b.value)}
                            data-facet={b.value}
                          />{" "}
                          {b.value} ({b.count})
                        </label>
                      ) : (
                        <span>
                          {b.value.slice(0, 12)} ({b.count})
                        </span>
                      )}
                    </li>
                  ))}
                </ul>
              </div>
            ))}
          </aside>
          <div>
            <p className="muted" data-testid="search-total">
              {r.totalCount} matching
            </p>
            <ol className="hits" data-testid="hits">
              {r.edges.map(({ cursor, node }) =>
                node.document ? (
                  <li key={cursor}>
                    <Link href={`/documents/${node.document.id}`}>{node.document.name}</Link>{" "}
                    <span className="muted">
                      {node.document.category ?? ""} · {node.score.toFixed(3)}
                    </span>
                    {node.highlights.slice(0, 2).map((h) => (
                      <p key={h} className="snippet">
                        <Highlight text={h} />
                      </p>
                    ))}
                  </li>
                ) : null,
              )}
            </ol>
            <p>
              <button type="button" disabled={!pages.length} onClick={() => setPages((p) => p.slice(0, -1))}>
                Previous
              </button>{" "}
              <button
                type="button"
                disabled={!r.pageInfo.hasNextPage}
                onClick={() => r.pageInfo.endCursor && setPages((p) => [...p, r.pageInfo.endCursor!])}
              >
                Next
              </button>
            </p>
          </div>
        </div>
      )}
    </section>
  );
}

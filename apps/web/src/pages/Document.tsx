import { type FormEvent, useEffect, useMemo, useState } from "react";
import { useMutation, useQuery } from "urql";
import { useApi } from "../api-context.ts";
import { errorText } from "../client.ts";
import { bytes, percent, when } from "../format.ts";
import type { DocumentEventsSubscription } from "../generated/graphql.ts";
import { CorrectDocument, DocumentDetail, DocumentEvents, Similar } from "../operations.ts";
import { Link } from "../router.tsx";
import { type Doc, Preview } from "./Preview.tsx";

export function DocumentPage({ id }: { id: string }) {
  const [{ data, error, fetching }] = useQuery({ query: DocumentDetail, variables: { id } });
  if (error) return <p className="error">{errorText(error)}</p>;
  if (!data) return <p className="muted">{fetching ? "Loading…" : ""}</p>;
  if (!data.document) return <p>No such document.</p>;
  return (
    <section>
      <DocumentView doc={data.document} categories={data.categories} />
      <div className="columns">
        <Events id={id} />
        <SimilarDocs id={id} />
      </div>
    </section>
  );
}

type Category = { name: string; fields: unknown };

/** Names of a category's declared fields (its JSON Schema subset's properties). */
function declaredFields(c: Category | undefined): string[] {
  const props = (c?.fields as { properties?: Record<string, unknown> } | null)?.properties;
  return props ? Object.keys(props) : [];
}

/** A document: preview with field boxes, its fields (editable), category, text and facts. */
export function DocumentView({
  doc,
  categories,
  onSaved,
}: {
  doc: Doc;
  categories: Category[];
  onSaved?: (d: Doc) => void;
}) {
  const [, correct] = useMutation(CorrectDocument);
  const [category, setCategory] = useState(doc.category ?? "");
  const [values, setValues] = useState<Record<string, string>>({});
  const [focus, setFocus] = useState<string | undefined>();
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  useEffect(() => {
    setCategory(doc.category ?? "");
    setValues(Object.fromEntries(doc.fields.map((f) => [f.name, f.value])));
    setMessage(null);
  }, [doc]);
  const names = useMemo(() => {
    const declared = declaredFields(categories.find((c) => c.name === category));
    return [...new Set([...doc.fields.map((f) => f.name), ...declared])];
  }, [doc, categories, category]);
  const byName = new Map(doc.fields.map((f) => [f.name, f]));

  const save = async (e?: FormEvent) => {
    e?.preventDefault();
    const fields = names
      .filter((n) => (values[n] ?? "") !== (byName.get(n)?.value ?? "") && (values[n] ?? "") !== "")
      .map((n) => ({ name: n, value: values[n]!.trim() }));
    const changedCategory = category && category !== doc.category ? category : null;
    const r = await correct({
      id: doc.id,
      category: changedCategory ?? doc.category ?? category ?? null,
      fields: fields.length ? fields : null,
    });
    if (r.error || !r.data) setMessage({ ok: false, text: r.error ? errorText(r.error) : "no answer" });
    else {
      setMessage({ ok: true, text: "Saved" });
      onSaved?.(r.data.correctDocument);
    }
  };

  const editable = doc.status === "COMPLETED";
  return (
    <div className="document" data-testid="document" data-document-id={doc.id}>
      <h1>
        {doc.name} {doc.needsReview && <span className="tag">needs review</span>}
      </h1>
      <p className="muted">
        {doc.status}
        {doc.stage ? ` at ${doc.stage}` : ""} · {bytes(doc.size)} ·{" "}
        {doc.detectedType ?? doc.contentType ?? "unknown type"}
        {doc.pageCount ? ` · ${doc.pageCount} pages` : ""} · batch{" "}
        <Link href={`/batches/${doc.batch.id}`}>{doc.batch.name}</Link> · added {when(doc.createdAt)}
        {doc.correctedAt ? ` · corrected ${when(doc.correctedAt)}` : ""} ·{" "}
        <a href={doc.downloadUrl} target="_blank" rel="noreferrer">
          original
        </a>
      </p>
      {doc.errorCode && (
        <p className="error">
          {doc.errorCode}: {doc.errorMessage}
        </p>
      )}
      <div className="columns">
        <Preview doc={doc} highlight={focus} />
        <form className="fields" onSubmit={save} aria-label="Fields">
          <label>
            Category{" "}
            <select
              name="category"
              value={category}
              onChange={(e) => setCategory(e.target.value)}
              disabled={!editable}
            >
              {!category && <option value="">–</option>}
              {categories.map((c) => (
                <option key={c.name}>{c.name}</option>
              ))}
            </select>{" "}
            <span className="muted">confidence {percent(doc.confidence)}</span>
          </label>
          <table className="list">
            <thead>
              <tr>
                <th>Field</th>
                <th>Value</th>
                <th>Confidence</th>
                <th>Source</th>
              </tr>
            </thead>
            <tbody>
              {names.map((n) => {
                const f = byName.get(n);
                return (
                  <tr key={n} className={f && f.confidence < 0.6 ? "low" : undefined}>
                    <th scope="row">{n}</th>
                    <td>
                      <input
                        name={`field-${n}`}
                        aria-label={n}
                        value={values[n] ?? ""}
                        disabled={!editable}
                        onFocus={() => setFocus(n)}
                        onBlur={() => setFocus(undefined)}
                        onChange={(e) => setValues((v) => ({ ...v, [n]: e.target.value }))}
                      />
                    </td>
                    <td>{f ? percent(f.confidence) : "–"}</td>
                    <td className="small">
                      {f ? `${f.source}${f.page ? ` p.${f.page}` : ""}${f.box ? " ▣" : ""}` : "not found"}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <button type="submit" disabled={!editable}>
            Save corrections
          </button>{" "}
          {message && (
            <span role="status" className={message.ok ? "ok" : "error"}>
              {message.text}
            </span>
          )}
          {!editable && <p className="muted small">Corrections apply to completed documents.</p>}
          <details className="provenance">
            <summary>Provenance</summary>
            <pre>
              {JSON.stringify(
                { model: doc.model, categoryVersion: doc.categoryVersion, ...(doc.provenance as object) },
                null,
                2,
              )}
            </pre>
          </details>
        </form>
      </div>
      <details open={!doc.fields.length}>
        <summary>Extracted text</summary>
        <pre className="text" data-testid="text">
          {doc.text ?? "(none)"}
        </pre>
      </details>
    </div>
  );
}

type DocEvent = DocumentEventsSubscription["documentProgress"]["event"];

function Events({ id }: { id: string }) {
  const api = useApi();
  const [events, setEvents] = useState<DocEvent[]>([]);
  useEffect(() => {
    setEvents([]);
    return api.subscribe(
      DocumentEvents,
      { id },
      {
        next: (d) => setEvents((ev) => [...ev, d.documentProgress.event]),
        error: () => {},
        complete: () => {},
      },
    );
  }, [api, id]);
  return (
    <div className="panel">
      <h3>Events</h3>
      <ol className="events" data-testid="events">
        {events.map((e) => (
          <li key={e.seq}>
            {when(e.createdAt)} · {e.kind} {e.stage ?? ""} {e.status ?? ""}{" "}
            {e.code ? `${e.code}: ${e.message ?? ""}` : ""}
          </li>
        ))}
      </ol>
    </div>
  );
}

function SimilarDocs({ id }: { id: string }) {
  const [{ data, error }] = useQuery({ query: Similar, variables: { id } });
  return (
    <div className="panel">
      <h3>Similar documents</h3>
      {error && <p className="muted">{errorText(error)}</p>}
      <ul data-testid="similar">
        {data?.similar.edges.map(({ node }) =>
          node.document ? (
            <li key={node.document.id}>
              <Link href={`/documents/${node.document.id}`}>{node.document.name}</Link>{" "}
              <span className="muted">
                {node.document.category ?? ""} · {node.score.toFixed(3)}
              </span>
            </li>
          ) : null,
        )}
      </ul>
    </div>
  );
}

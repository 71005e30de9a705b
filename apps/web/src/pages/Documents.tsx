import { type FormEvent, useState } from "react";
import { useQuery } from "urql";
import { errorText } from "../client.ts";
import { bytes, percent, when } from "../format.ts";
import type { DocumentFilter, DocumentStatus } from "../generated/graphql.ts";
import { Documents } from "../operations.ts";
import { Link, navigate, useLocation } from "../router.tsx";

const STATUSES: DocumentStatus[] = ["PENDING_UPLOAD", "QUEUED", "PROCESSING", "COMPLETED", "FAILED"];

/** Filters live in the URL (`?status=FAILED&category=invoice&review=1&batch=...`): a view can be shared. */
function filterOf(q: URLSearchParams): DocumentFilter {
  const f: DocumentFilter = {};
  const status = q
    .getAll("status")
    .filter((s): s is DocumentStatus => STATUSES.includes(s as DocumentStatus));
  if (status.length) f.status = status;
  const category = q.getAll("category").filter(Boolean);
  if (category.length) f.category = category;
  if (q.get("review") === "1") f.needsReview = true;
  const batch = q.get("batch");
  if (batch) f.batchId = batch;
  const code = q.getAll("code").filter(Boolean);
  if (code.length) f.errorCode = code;
  return f;
}

export function DocumentsPage() {
  const { query } = useLocation();
  const filter = filterOf(query);
  const [after, setAfter] = useState<string[]>([]);
  const [{ data, error, fetching }] = useQuery({
    query: Documents,
    variables: { first: 50, after: after.at(-1) ?? null, filter },
  });
  const apply = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const q = new URLSearchParams();
    for (const [k, v] of form) if (typeof v === "string" && v) q.append(k, v);
    setAfter([]);
    navigate(`/documents${q.size ? `?${q}` : ""}`);
  };
  const conn = data?.documents;
  return (
    <section>
      <h1>Documents</h1>
      <form className="filters" onSubmit={apply} key={query.toString()}>
        <select name="status" defaultValue={query.get("status") ?? ""} aria-label="Status">
          <option value="">any status</option>
          {STATUSES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <input name="category" placeholder="category" defaultValue={query.get("category") ?? ""} />
        <input name="code" placeholder="error code" defaultValue={query.get("code") ?? ""} />
        <label>
          <input type="checkbox" name="review" value="1" defaultChecked={query.get("review") === "1"} /> needs
          review
        </label>
        {query.get("batch") && <input type="hidden" name="batch" value={query.get("batch")!} />}
        <button type="submit">Filter</button>
      </form>
      {error && <p className="error">{errorText(error)}</p>}
      {conn && <p className="muted">{conn.totalCount} documents</p>}
      {!conn && fetching && <p className="muted">Loading…</p>}
      <table className="list" data-testid="documents">
        <thead>
          <tr>
            <th>Name</th>
            <th>Status</th>
            <th>Category</th>
            <th>Confidence</th>
            <th>Size</th>
            <th>Batch</th>
            <th>Added</th>
          </tr>
        </thead>
        <tbody>
          {conn?.edges.map(({ node: d }) => (
            <tr key={d.id}>
              <td>
                <Link href={`/documents/${d.id}`}>{d.name}</Link>{" "}
                {d.needsReview && <span className="tag">review</span>}
              </td>
              <td>
                {d.status}
                {d.stage ? ` · ${d.stage}` : ""}
                {d.errorCode ? ` · ${d.errorCode}` : ""}
              </td>
              <td>{d.category ?? "–"}</td>
              <td>{percent(d.confidence)}</td>
              <td>{bytes(d.size)}</td>
              <td>
                <Link href={`/batches/${d.batch.id}`}>{d.batch.name}</Link>
              </td>
              <td>{when(d.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        <button type="button" disabled={after.length === 0} onClick={() => setAfter((a) => a.slice(0, -1))}>
          Previous
        </button>{" "}
        <button
          type="button"
          disabled={!conn?.pageInfo.hasNextPage}
          onClick={() => conn?.pageInfo.endCursor && setAfter((a) => [...a, conn.pageInfo.endCursor!])}
        >
          Next
        </button>
      </p>
    </section>
  );
}

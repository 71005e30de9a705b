import { useEffect, useState } from "react";
import { useMutation, useQuery } from "urql";
import { useApi } from "../api-context.ts";
import { errorText } from "../client.ts";
import { duration, when } from "../format.ts";
import type { BatchProgressSubscription } from "../generated/graphql.ts";
import { BatchDetail, Batches, BatchProgressSub, RetryBatch } from "../operations.ts";
import { Link } from "../router.tsx";

type Progress = BatchProgressSubscription["batchProgress"];
type Counts = Progress["counts"];
type Stages = Progress["stages"];

export function BatchesPage() {
  const [{ data, error, fetching }, refetch] = useQuery({ query: Batches, variables: { first: 50 } });
  // The list's counts are kept by the server incrementally: re-reading them every few seconds is cheap.
  useEffect(() => {
    const t = setInterval(() => refetch({ requestPolicy: "network-only" }), 3000);
    return () => clearInterval(t);
  }, [refetch]);
  return (
    <section>
      <h1>Batches</h1>
      {error && <p className="error">{errorText(error)}</p>}
      {!data && fetching && <p className="muted">Loading…</p>}
      <table className="list" data-testid="batches" data-loaded={data ? "true" : "false"}>
        <thead>
          <tr>
            <th>Name</th>
            <th>Created</th>
            <th>Total</th>
            <th>Completed</th>
            <th>Failed</th>
            <th>Review</th>
            <th>In progress</th>
          </tr>
        </thead>
        <tbody>
          {data?.batches.edges.map(({ node: b }) => (
            <tr key={b.id}>
              <td>
                <Link href={`/batches/${b.id}`}>{b.name}</Link>
              </td>
              <td>{when(b.createdAt)}</td>
              <td>{b.counts.total}</td>
              <td>{b.counts.completed}</td>
              <td className={b.counts.failed ? "bad" : undefined}>{b.counts.failed}</td>
              <td>{b.counts.needsReview}</td>
              <td>{b.finished ? "done" : b.counts.queued + b.counts.processing + b.counts.pendingUpload}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function BatchPage({ id }: { id: string }) {
  const [{ data, error }] = useQuery({ query: BatchDetail, variables: { id } });
  if (error) return <p className="error">{errorText(error)}</p>;
  if (data && !data.batch) return <p>No such batch.</p>;
  return (
    <section>
      <h1>{data?.batch?.name ?? "Batch"}</h1>
      {data?.batch && <p className="muted">created {when(data.batch.createdAt)}</p>}
      <BatchLive id={id} />
      <p>
        <Link href={`/documents?batch=${encodeURIComponent(id)}`}>Documents of this batch</Link>
      </p>
    </section>
  );
}

/**
 * A batch's live progress over graphql-ws: counts per status and stage, rate, ETA and the latest
 * events. A dropped subscription resumes after the last event's cursor, so nothing is missed or
 * counted twice.
 */
export function BatchLive({ id }: { id: string }) {
  const api = useApi();
  const [progress, setProgress] = useState<Progress | null>(null);
  const [events, setEvents] = useState<Progress["events"]>([]);
  const [link, setLink] = useState<"connecting" | "live" | "reconnecting">("connecting");

  useEffect(() => {
    let cursor = 0;
    let closed = false;
    let attempt = 0;
    let stop = () => {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    setProgress(null);
    setEvents([]);
    const go = () => {
      stop = api.subscribe(
        BatchProgressSub,
        { id, after: cursor },
        {
          next: ({ batchProgress: p }) => {
            attempt = 0;
            cursor = Math.max(cursor, p.cursor);
            setLink("live");
            setProgress(p);
            if (p.events.length) setEvents((ev) => [...ev, ...p.events].slice(-100));
          },
          error: () => {
            if (closed) return;
            setLink("reconnecting");
            timer = setTimeout(go, Math.min(10_000, 500 * 2 ** attempt++));
          },
          complete: () => {},
        },
      );
    };
    go();
    return () => {
      closed = true;
      clearTimeout(timer);
      stop();
    };
  }, [api, id]);

  return (
    <div className="panel" data-testid="batch-live" data-finished={progress?.finished ? "true" : "false"}>
      <p>
        <span className={`dot ${link}`} /> {link}
        {progress && (
          <>
            {" "}
            · {progress.finished ? "finished" : "in progress"} · {progress.documentsPerMinute.toFixed(1)}{" "}
            documents/min · ETA {progress.finished ? "–" : duration(progress.etaSeconds)}
          </>
        )}
      </p>
      {progress && <CountsView counts={progress.counts} stages={progress.stages} />}
      {progress && progress.counts.failed > 0 && <Failures id={id} failed={progress.counts.failed} />}
      <details>
        <summary>Events ({events.length})</summary>
        <ol className="events">
          {events
            .slice()
            .reverse()
            .map((e) => (
              <li key={e.seq}>
                <code>{e.seq}</code> {e.kind} {e.stage ?? ""} {e.status ?? ""} {e.code ?? ""}{" "}
                {e.documentId && <Link href={`/documents/${e.documentId}`}>document</Link>}
              </li>
            ))}
        </ol>
      </details>
    </div>
  );
}

function CountsView({ counts, stages }: { counts: Counts; stages: Stages }) {
  const cells: [string, number][] = [
    ["total", counts.total],
    ["pending upload", counts.pendingUpload],
    ["queued", counts.queued],
    ["processing", counts.processing],
    ["completed", counts.completed],
    ["failed", counts.failed],
    ["needs review", counts.needsReview],
  ];
  return (
    <>
      <dl className="counts" data-testid="counts">
        {cells.map(([k, v]) => (
          <div key={k} data-count={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      <dl className="counts stages">
        {(["parse", "understand", "embed", "index"] as const).map((s) => (
          <div key={s}>
            <dt>at {s}</dt>
            <dd>{stages[s]}</dd>
          </div>
        ))}
      </dl>
      <progress max={Math.max(1, counts.total)} value={counts.completed + counts.failed} />
    </>
  );
}

function Failures({ id, failed }: { id: string; failed: number }) {
  const [{ data }, refetch] = useQuery({ query: BatchDetail, variables: { id } });
  // Re-read the groups when the failure count changes.
  useEffect(() => {
    if (failed >= 0) refetch({ requestPolicy: "network-only" });
  }, [failed, refetch]);
  const [retry, retryBatch] = useMutation(RetryBatch);
  const [answer, setAnswer] = useState<string | null>(null);
  return (
    <div className="failures">
      <h3>Failures by code</h3>
      <ul>
        {data?.quarantine.map((g) => (
          <li key={g.code}>
            <strong>{g.code}</strong> × {g.count}:{" "}
            {g.documents.map((d) => (
              <Link key={d.id} href={`/documents/${d.id}`} title={d.errorMessage ?? ""}>
                {d.name}{" "}
              </Link>
            ))}
          </li>
        ))}
      </ul>
      <button
        type="button"
        disabled={retry.fetching}
        onClick={async () => {
          const r = await retryBatch({ id });
          setAnswer(r.error ? errorText(r.error) : `${r.data?.retryBatch ?? 0} documents queued again`);
        }}
      >
        Retry failed
      </button>{" "}
      {answer && <span>{answer}</span>}
    </div>
  );
}

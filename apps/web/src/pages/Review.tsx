import { useCallback, useEffect, useState } from "react";
import { useQuery } from "urql";
import { errorText } from "../client.ts";
import { DocumentDetail, Documents } from "../operations.ts";
import { DocumentView } from "./Document.tsx";

/**
 * The needs-review documents one after another. Keys: j / → next, k / ← previous, a accept (save as
 * shown), Ctrl+Enter save corrections (also inside a field), e edit the first field.
 */
export function ReviewPage() {
  const [{ data, error }, refetch] = useQuery({
    query: Documents,
    variables: { first: 100, filter: { needsReview: true, status: ["COMPLETED"] } },
    requestPolicy: "network-only",
  });
  const [done, setDone] = useState<Set<string>>(new Set());
  const [at, setAt] = useState(0);
  const queue = (data?.documents.edges ?? []).map((e) => e.node).filter((d) => !done.has(d.id));
  const current = queue[Math.min(at, Math.max(0, queue.length - 1))];

  const submit = useCallback(() => {
    document.querySelector<HTMLFormElement>('form[aria-label="Fields"]')?.requestSubmit();
  }, []);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      const typing = t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA";
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        submit();
        return;
      }
      if (typing || e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.key === "j" || e.key === "ArrowRight")
        setAt((n) => Math.min(n + 1, Math.max(0, queue.length - 1)));
      else if (e.key === "k" || e.key === "ArrowLeft") setAt((n) => Math.max(0, n - 1));
      else if (e.key === "a") submit();
      else if (e.key === "e") {
        e.preventDefault();
        document.querySelector<HTMLInputElement>('form[aria-label="Fields"] input')?.focus();
      } else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [queue.length, submit]);

  return (
    <section>
      <h1>Review</h1>
      <p className="muted" data-testid="review-left">
        {queue.length} to review · <kbd>j</kbd>/<kbd>k</kbd> next/previous · <kbd>a</kbd> accept ·{" "}
        <kbd>e</kbd> edit · <kbd>Ctrl</kbd>+<kbd>Enter</kbd> save
      </p>
      {error && <p className="error">{errorText(error)}</p>}
      {data && queue.length === 0 && (
        <p data-testid="review-empty">
          Nothing to review.{" "}
          <button type="button" onClick={() => refetch({ requestPolicy: "network-only" })}>
            Check again
          </button>
        </p>
      )}
      {current && (
        <ReviewItem
          id={current.id}
          onSaved={() => {
            setDone((s) => new Set(s).add(current.id));
          }}
        />
      )}
    </section>
  );
}

function ReviewItem({ id, onSaved }: { id: string; onSaved(): void }) {
  const [{ data, error }] = useQuery({ query: DocumentDetail, variables: { id } });
  if (error) return <p className="error">{errorText(error)}</p>;
  if (!data?.document) return <p className="muted">Loading…</p>;
  return <DocumentView doc={data.document} categories={data.categories} onSaved={onSaved} />;
}

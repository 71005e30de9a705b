import { lazy, Suspense, useEffect, useState } from "react";
import type { DocumentFieldsFragment } from "../generated/graphql.ts";
import { type Box, BoxLayer } from "./boxes.tsx";

// pdf.js is big: loaded only when a PDF is shown.
const PdfPages = lazy(() => import("./PdfPages.tsx"));

export type Doc = DocumentFieldsFragment;

/** Fields whose provenance has a box on a page (OCR'd text), for drawing on the preview. */
export function boxesOf(doc: Doc): Box[] {
  return doc.fields.flatMap((f) =>
    f.box && f.box.length === 4 ? [{ name: f.name, page: f.page ?? 1, box: f.box as Box["box"] }] : [],
  );
}

function kindOf(doc: Doc): "image" | "pdf" | "other" {
  // detectedType is the parser's name for the format (pdf, jpg, png, ...) or a mime type.
  const types = [doc.detectedType, doc.contentType].map((t) => (t ?? "").toLowerCase());
  if (types.some((t) => t === "pdf" || t === "application/pdf")) return "pdf";
  // SVG is never shown inline (it can carry script); TIFF is not an image browsers draw.
  const shown = /^(image\/)?(jpe?g|png|webp|gif|bmp|avif)$/;
  if (types.some((t) => shown.test(t))) return "image";
  return "other";
}

const MIME: Record<string, string> = { jpg: "image/jpeg", jpeg: "image/jpeg" };

/** The original's bytes, fetched with the signed URL (works whatever disposition the store answers). */
function useOriginal(url: string | undefined) {
  const [bytes, setBytes] = useState<{ buf: ArrayBuffer; type: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!url) return;
    const ctl = new AbortController();
    setBytes(null);
    setError(null);
    fetch(url, { signal: ctl.signal, credentials: "omit" })
      .then(async (r) => {
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        setBytes({ buf: await r.arrayBuffer(), type: r.headers.get("content-type") ?? "" });
      })
      .catch((e: Error) => {
        if (!ctl.signal.aborted) setError(e.message);
      });
    return () => ctl.abort();
  }, [url]);
  return { bytes, error };
}

export function Preview({ doc, highlight }: { doc: Doc; highlight?: string }) {
  const kind = kindOf(doc);
  const { bytes, error } = useOriginal(kind === "other" ? undefined : doc.downloadUrl);
  const boxes = boxesOf(doc);
  if (kind === "other")
    return (
      <div className="preview none">
        {doc.thumbnailUrl ? (
          <img src={doc.thumbnailUrl} alt="thumbnail" />
        ) : (
          <p className="muted">No preview.</p>
        )}
      </div>
    );
  if (error) return <p className="error">Preview failed: {error}</p>;
  if (!bytes) return <p className="muted">Loading preview…</p>;
  if (kind === "pdf")
    return (
      <Suspense fallback={<p className="muted">Loading PDF viewer…</p>}>
        <PdfPages data={bytes.buf} boxes={boxes} highlight={highlight} />
      </Suspense>
    );
  return <ImagePreview bytes={bytes} doc={doc} boxes={boxes} highlight={highlight} />;
}

function ImagePreview({
  bytes,
  doc,
  boxes,
  highlight,
}: {
  bytes: { buf: ArrayBuffer; type: string };
  doc: Doc;
  boxes: Box[];
  highlight?: string;
}) {
  const [url, setUrl] = useState<string | null>(null);
  const [size, setSize] = useState<{ w: number; h: number } | null>(null);
  useEffect(() => {
    const t = (doc.detectedType ?? "").toLowerCase();
    const type = t.includes("/") ? t : (MIME[t] ?? `image/${t}`);
    const u = URL.createObjectURL(new Blob([bytes.buf], { type }));
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [bytes, doc.detectedType]);
  if (!url) return null;
  return (
    <div className="preview" data-testid="preview">
      <div className="page">
        <img
          src={url}
          alt={doc.name}
          data-testid="preview-image"
          onLoad={(e) => setSize({ w: e.currentTarget.naturalWidth, h: e.currentTarget.naturalHeight })}
        />
        {size && (
          <BoxLayer
            boxes={boxes.filter((b) => b.page === 1)}
            width={size.w}
            height={size.h}
            highlight={highlight}
          />
        )}
      </div>
    </div>
  );
}

import { GlobalWorkerOptions, getDocument, type PDFDocumentProxy } from "pdfjs-dist";
import workerUrl from "pdfjs-dist/build/pdf.worker.min.mjs?url";
import { useEffect, useRef, useState } from "react";
import { type Box, BoxLayer } from "./boxes.tsx";

GlobalWorkerOptions.workerSrc = workerUrl;

// The parse stage renders a page for OCR at 300 dpi within 8 MP (packages/pipeline/src/parse/pdf.ts
// `ocrScale`): a field's box is in that image's pixels.
const OCR_DPI = 300;
const RENDER_PIXEL_BUDGET = 8_000_000;
const ocrScale = (w: number, h: number) =>
  Math.min(OCR_DPI / 72, Math.sqrt(RENDER_PIXEL_BUDGET / Math.max(1, w * h)));

export default function PdfPages({
  data,
  boxes,
  highlight,
}: {
  data: ArrayBuffer;
  boxes: Box[];
  highlight?: string;
}) {
  const [pdf, setPdf] = useState<PDFDocumentProxy | null>(null);
  const [page, setPage] = useState(1);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    // pdf.js takes the buffer over: give it a copy, the caller's stays usable.
    let current = true;
    const task = getDocument({ data: new Uint8Array(data.slice(0)), isEvalSupported: false });
    task.promise.then(
      (d) => current && setPdf(d),
      // A task destroyed below rejects ("Worker was destroyed"): not this view's error.
      (e: Error) => current && setError(e.message),
    );
    return () => {
      current = false;
      void task.destroy();
    };
  }, [data]);
  if (error) return <p className="error">PDF: {error}</p>;
  if (!pdf) return <p className="muted">Opening PDF…</p>;
  return (
    <div className="preview" data-testid="preview">
      {pdf.numPages > 1 && (
        <p>
          <button type="button" disabled={page <= 1} onClick={() => setPage(page - 1)}>
            ‹
          </button>{" "}
          page {page} of {pdf.numPages}{" "}
          <button type="button" disabled={page >= pdf.numPages} onClick={() => setPage(page + 1)}>
            ›
          </button>
        </p>
      )}
      <PdfPage pdf={pdf} n={page} boxes={boxes.filter((b) => b.page === page)} highlight={highlight} />
    </div>
  );
}

function PdfPage({
  pdf,
  n,
  boxes,
  highlight,
}: {
  pdf: PDFDocumentProxy;
  n: number;
  boxes: Box[];
  highlight?: string;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [ocr, setOcr] = useState<{ w: number; h: number } | null>(null);
  useEffect(() => {
    let cancelled = false;
    let task: { cancel(): void; promise: Promise<void> } | undefined;
    void pdf.getPage(n).then((p) => {
      if (cancelled || !canvas.current) return;
      const base = p.getViewport({ scale: 1 });
      const s = ocrScale(base.width, base.height);
      setOcr({ w: base.width * s, h: base.height * s });
      const viewport = p.getViewport({
        scale: Math.min(2, 1000 / base.width) * (window.devicePixelRatio || 1),
      });
      const c = canvas.current;
      c.width = viewport.width;
      c.height = viewport.height;
      task = p.render({ canvas: c, viewport });
      task.promise.then(
        () => c.setAttribute("data-rendered", "true"),
        (e: Error) => {
          if (e?.name !== "RenderingCancelledException") console.warn(`page ${n}: ${e?.message ?? e}`);
        },
      );
    });
    return () => {
      cancelled = true;
      task?.cancel();
    };
  }, [pdf, n]);
  return (
    <div className="page">
      <canvas ref={canvas} data-testid="pdf-canvas" />
      {ocr && <BoxLayer boxes={boxes} width={ocr.w} height={ocr.h} highlight={highlight} />}
    </div>
  );
}

import { type DragEvent, useRef, useState } from "react";
import { useApi } from "../api-context.ts";
import { bytes } from "../format.ts";
import {
  filesOfDrop,
  filesOfInput,
  type PickedFile,
  UploadRun,
  type UploadState,
} from "../upload/uploader.ts";
import { BatchLive } from "./Batches.tsx";

export function UploadPage() {
  const api = useApi();
  const [picked, setPicked] = useState<PickedFile[]>([]);
  const [name, setName] = useState("");
  const [over, setOver] = useState(false);
  const [state, setState] = useState<UploadState | null>(null);
  const running = state !== null && state.phase !== "done" && state.phase !== "failed";
  const folderInput = useRef<HTMLInputElement>(null);
  const [concurrency, setConcurrency] = useState(4);
  const [multipartMiB, setMultipartMiB] = useState(64);

  const take = (files: PickedFile[]) => {
    setPicked(files);
    setState(null);
    const top = files[0]?.path.split("/");
    if (!name && top && top.length > 1) setName(top[0]!);
  };

  const onDrop = async (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    take(await filesOfDrop(e.dataTransfer.items));
  };

  const start = async () => {
    const run = new UploadRun(api, picked, {
      batchName: name.trim() || `Upload ${new Date().toLocaleString()}`,
      concurrency,
      multipartThreshold: multipartMiB * 1024 * 1024,
    });
    run.onChange(setState);
    setState({ ...run.state });
    await run.run().catch(() => undefined);
  };

  const total = picked.reduce((n, p) => n + p.file.size, 0);
  return (
    <section>
      <h1>Upload</h1>
      {/* biome-ignore lint/a11y/noStaticElementInteractions: dropping is a mouse gesture; the file inputs inside are the keyboard's way */}
      <div
        className={`drop ${over ? "over" : ""}`}
        data-testid="dropzone"
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => void onDrop(e)}
      >
        <p>Drop files or folders here</p>
        <p>
          <label className="button">
            Choose files
            <input
              type="file"
              multiple
              hidden
              onChange={(e) => e.target.files && take(filesOfInput(e.target.files))}
            />
          </label>{" "}
          <label className="button">
            Choose a folder
            <input
              ref={(el) => {
                folderInput.current = el;
                el?.setAttribute("webkitdirectory", "");
              }}
              type="file"
              data-testid="folder-input"
              hidden
              onChange={(e) => e.target.files && take(filesOfInput(e.target.files))}
            />
          </label>
        </p>
      </div>
      {picked.length > 0 && (
        <div className="panel">
          <p>
            <strong>{picked.length}</strong> files, {bytes(total)}
          </p>
          <label>
            Batch name <input value={name} onChange={(e) => setName(e.target.value)} disabled={running} />
          </label>{" "}
          <button type="button" onClick={() => void start()} disabled={running || state?.phase === "done"}>
            Upload
          </button>
          <details>
            <summary>Transfer settings</summary>
            <label>
              Files in flight{" "}
              <input
                type="number"
                min={1}
                max={16}
                value={concurrency}
                onChange={(e) => setConcurrency(Math.max(1, Math.min(16, Number(e.target.value) || 1)))}
              />
            </label>{" "}
            <label>
              Multipart from (MiB){" "}
              <input
                type="number"
                min={5}
                value={multipartMiB}
                onChange={(e) => setMultipartMiB(Math.max(5, Number(e.target.value) || 64))}
              />
            </label>
          </details>
        </div>
      )}
      {state && <UploadProgress state={state} />}
      {state?.batchId && <BatchLive id={state.batchId} />}
    </section>
  );
}

function UploadProgress({ state }: { state: UploadState }) {
  const pct = state.bytesTotal ? Math.round((state.bytesSent / state.bytesTotal) * 100) : 100;
  return (
    <div className="panel" data-testid="upload-progress" data-phase={state.phase}>
      <p>
        <strong>{state.phase}</strong> · hashed {state.hashed}/{state.files} · sent {bytes(state.bytesSent)}{" "}
        of {bytes(state.bytesTotal)} ({pct}%) · queued {state.queued} · duplicates {state.duplicates}
      </p>
      <progress max={100} value={pct} />
      {state.error && <p className="error">{state.error}</p>}
      {[...state.rejected, ...state.failed].length > 0 && (
        <ul className="problems">
          {[...state.rejected, ...state.failed].map((p) => (
            <li key={p.path}>
              {p.path}: {p.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

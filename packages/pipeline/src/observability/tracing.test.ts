import { describe, expect, it } from "vitest";
import { StageMessage, stageMessage } from "../domain/messages.ts";
import { createTracing, InMemorySpanExporter } from "./tracing.ts";

const doc = { id: "7d1f0a52-4b7e-4c4e-9a59-2f0c1d1e6a01", tenantId: "0b9e3c1c-2d6a-4f3e-8d5b-7a4c9e2f1b00" };

describe("Tracing", () => {
  it("carries a span's context as a traceparent that another process continues", async () => {
    const exporter = new InMemorySpanExporter();
    const gateway = createTracing("none", exporter);
    const worker = createTracing("none", exporter);
    const sent = await gateway.span("op", {}, async () => stageMessage(doc, "PARSE", gateway.traceparent()));
    expect(gateway.traceparent()).toBeUndefined(); // outside any span
    const msg = StageMessage.parse(JSON.parse(JSON.stringify(sent)));
    await worker.span(
      "docfleet.stage.parse",
      {},
      async () => expect(worker.traceId()).toBeDefined(),
      worker.extract(msg.traceparent),
    );
    const [op, stage] = exporter.getFinishedSpans();
    expect(stage!.spanContext().traceId).toBe(op!.spanContext().traceId);
    expect(stage!.parentSpanContext?.spanId).toBe(op!.spanContext().spanId);
  });

  it("keeps stage messages version-compatible: without a traceparent, or with a bad one, they still parse", () => {
    const old = { v: 1, documentId: doc.id, tenantId: doc.tenantId, stage: "EMBED" };
    expect(StageMessage.parse(old)).toEqual(old);
    expect(StageMessage.parse({ ...old, traceparent: "garbage" })).toEqual(old);
    expect(stageMessage(doc, "EMBED")).toEqual(old);
  });

  it("records a thrown error on the span and rethrows it", async () => {
    const exporter = new InMemorySpanExporter();
    const t = createTracing("none", exporter);
    await expect(t.span("x", {}, async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(exporter.getFinishedSpans()[0]!.status.code).toBe(2);
  });
});

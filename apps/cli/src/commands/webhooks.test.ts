import { describe, expect, it } from "vitest";
import { parseWebhookEvents, WEBHOOK_EVENTS } from "./webhooks.ts";

describe("docfleet webhooks --events", () => {
  it("takes the names receivers see, or the schema's enum spelling", () => {
    expect(parseWebhookEvents("document.completed, document.failed")).toEqual([
      "DOCUMENT_COMPLETED",
      "DOCUMENT_FAILED",
    ]);
    expect(parseWebhookEvents("DOCUMENTS_REQUESTED,stage.retry")).toEqual([
      "DOCUMENTS_REQUESTED",
      "STAGE_RETRY",
    ]);
    expect(Object.keys(WEBHOOK_EVENTS)).toHaveLength(10);
  });

  it("refuses an unknown type or none, as a usage error", () => {
    expect(() => parseWebhookEvents("document.exploded")).toThrow(/unknown event type "document.exploded"/);
    expect(() => parseWebhookEvents(" , ")).toThrow(/at least one/);
  });
});

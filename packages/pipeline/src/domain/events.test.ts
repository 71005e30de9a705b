import { describe, expect, it } from "vitest";
import { readEventPayload } from "./events.ts";

describe("readEventPayload", () => {
  it("reads a completion as written today: stage is the finished stage, nextStage the next", () => {
    const p = readEventPayload({
      status: "QUEUED",
      stage: "PARSE",
      nextStage: "UNDERSTAND",
      completedStage: "PARSE",
      ms: 12,
    });
    expect(p).toMatchObject({ stage: "PARSE", nextStage: "UNDERSTAND", completedStage: "PARSE" });
  });

  it("reads a completion stored before nextStage existed in today's shape", () => {
    // stage.completed used to carry the next stage in `stage`; document.completed carried null.
    expect(
      readEventPayload({ status: "QUEUED", stage: "UNDERSTAND", completedStage: "PARSE", ms: 5 }),
    ).toMatchObject({
      stage: "PARSE",
      nextStage: "UNDERSTAND",
    });
    expect(
      readEventPayload({ status: "COMPLETED", stage: null, completedStage: "INDEX", ms: 5 }),
    ).toMatchObject({
      stage: "INDEX",
      nextStage: null,
    });
  });

  it("leaves other events' stage alone", () => {
    expect(readEventPayload({ status: "PROCESSING", stage: "EMBED" })).toEqual({
      status: "PROCESSING",
      stage: "EMBED",
    });
    expect(readEventPayload({ status: "FAILED", stage: "PARSE", code: "CORRUPT" }).stage).toBe("PARSE");
  });

  it("refuses a payload of the wrong shape", () => {
    expect(() => readEventPayload({ stage: "LATER" })).toThrow();
  });
});

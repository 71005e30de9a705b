import { describe, expect, it } from "vitest";
import type { Provenance } from "./codecs.ts";
import { STAGES } from "./messages.ts";
import { nextStage, planFor } from "./plan.ts";
import { CHUNKER_VERSION, PARSER_VERSION } from "./versions.ts";

const NOW = {
  force: false,
  understandModels: ["text-model", "vision-model"],
  promptVersion: "p-2",
  embedModel: "embed-1",
  categoryVersion: 3,
};

/** A document every stage of which ran with what is current now. */
const CURRENT: Provenance = {
  PARSE: { parser: PARSER_VERSION },
  UNDERSTAND: { model: "text-model", promptVersion: "p-2", category: "invoice", categoryVersion: 3 },
  EMBED: { model: "embed-1", chunker: CHUNKER_VERSION },
  INDEX: { category: "invoice" },
};
const doc = (provenance: Provenance | null = CURRENT, category: string | null = "invoice") => ({
  category,
  provenance,
});
const all = [...STAGES];

describe("planFor", () => {
  it("is empty for a document that is up to date in every requested stage", () => {
    expect(planFor(doc(), all, NOW)).toEqual([]);
    // Understood by the vision model: that counts as current too.
    expect(
      planFor(doc({ ...CURRENT, UNDERSTAND: { ...CURRENT.UNDERSTAND, model: "vision-model" } }), all, NOW),
    ).toEqual([]);
  });

  it("runs every stage again when the parser changed (or the document was never parsed)", () => {
    expect(planFor(doc({ ...CURRENT, PARSE: { parser: "parse-0" } }), ["PARSE"], NOW)).toEqual(all);
    expect(planFor(doc(null), ["PARSE"], NOW)).toEqual(all);
    // Not asked for parse: a stale parser alone changes nothing.
    expect(planFor(doc({ ...CURRENT, PARSE: { parser: "parse-0" } }), ["EMBED"], NOW)).toEqual([]);
  });

  it("understands again on another model, prompt or category version, and then indexes", () => {
    const u = CURRENT.UNDERSTAND!;
    for (const UNDERSTAND of [
      { ...u, model: "old-model" },
      { ...u, promptVersion: "p-1" },
      { ...u, categoryVersion: 2 },
      undefined,
    ]) {
      expect(planFor(doc({ ...CURRENT, UNDERSTAND }), ["UNDERSTAND"], NOW)).toEqual(["UNDERSTAND", "INDEX"]);
    }
  });

  it("ignores the prompt version when another model was chosen, and the category version when unknown", () => {
    const other = { ...NOW, understandModels: ["chosen"], promptVersion: undefined };
    const understood = doc({
      ...CURRENT,
      UNDERSTAND: { model: "chosen", promptVersion: "whatever", categoryVersion: 3 },
    });
    expect(planFor(understood, ["UNDERSTAND"], other)).toEqual([]);
    expect(planFor(doc(), ["UNDERSTAND"], { ...other, understandModels: ["text-model"] })).toEqual([]);
    expect(planFor(doc(), ["UNDERSTAND"], { ...NOW, categoryVersion: undefined })).toEqual([]);
  });

  it("embeds again on another embedding model or chunker, and then indexes", () => {
    expect(
      planFor(doc({ ...CURRENT, EMBED: { model: "embed-0", chunker: CHUNKER_VERSION } }), ["EMBED"], NOW),
    ).toEqual(["EMBED", "INDEX"]);
    expect(
      planFor(doc({ ...CURRENT, EMBED: { model: "embed-1", chunker: "chunk-0" } }), ["EMBED"], NOW),
    ).toEqual(["EMBED", "INDEX"]);
    // Both stale: one run of each, in pipeline order.
    expect(
      planFor(doc({ ...CURRENT, UNDERSTAND: undefined, EMBED: undefined }), ["EMBED", "UNDERSTAND"], NOW),
    ).toEqual(["UNDERSTAND", "EMBED", "INDEX"]);
  });

  it("indexes again alone when the indexed category is not the document's (a correction)", () => {
    expect(planFor(doc(CURRENT, "receipt"), ["INDEX"], NOW)).toEqual(["INDEX"]);
    expect(planFor(doc({ ...CURRENT, INDEX: undefined }), ["INDEX"], NOW)).toEqual(["INDEX"]);
    expect(planFor(doc(), ["INDEX"], NOW)).toEqual([]);
  });

  it("with force runs what was asked regardless (parse: everything)", () => {
    const force = { ...NOW, force: true };
    expect(planFor(doc(), ["UNDERSTAND"], force)).toEqual(["UNDERSTAND", "INDEX"]);
    expect(planFor(doc(), ["EMBED"], force)).toEqual(["EMBED", "INDEX"]);
    expect(planFor(doc(), ["INDEX"], force)).toEqual(["INDEX"]);
    expect(planFor(doc(), ["PARSE"], force)).toEqual(all);
  });
});

describe("nextStage", () => {
  it("follows the pipeline without a plan, and ends after INDEX", () => {
    expect(STAGES.map((s) => nextStage(s, null))).toEqual(["UNDERSTAND", "EMBED", "INDEX", null]);
    expect(nextStage("PARSE", { stageTimeoutMs: 1000 })).toBe("UNDERSTAND");
  });

  it("follows the plan while it covers the stage, skipping what it leaves out", () => {
    const options = { stages: ["UNDERSTAND" as const, "INDEX" as const] };
    expect(nextStage("UNDERSTAND", options)).toBe("INDEX");
    expect(nextStage("INDEX", options)).toBeNull();
    // A stage outside the plan (a retry from an earlier stage) continues with the full pipeline.
    expect(nextStage("PARSE", options)).toBe("UNDERSTAND");
    expect(nextStage("EMBED", options)).toBe("INDEX");
  });
});

import type { DocumentOptions, Provenance } from "./codecs.ts";
import { NEXT_STAGE, STAGES, type StageName } from "./messages.ts";
import { CHUNKER_VERSION, PARSER_VERSION } from "./versions.ts";

export type { DocumentOptions };

/** The stage after `stage` in this run: the plan's next one while the plan covers `stage`, else the pipeline's. */
export function nextStage(stage: StageName, options: DocumentOptions | null | undefined): StageName | null {
  const plan = options?.stages;
  if (plan?.includes(stage)) {
    const at = STAGES.indexOf(stage);
    return STAGES.find((s, i) => i > at && plan.includes(s)) ?? null;
  }
  return NEXT_STAGE[stage];
}

/** The stages a document needs to run again out of `requested` (empty: it is up to date). */
export function planFor(
  d: { category: string | null; provenance: Provenance | null },
  requested: readonly StageName[],
  now: {
    force: boolean;
    /** Models whose results count as current (the text and the vision model, or the one chosen). */
    understandModels: readonly string[];
    /** undefined when another model was chosen: its prompt version is unknown until it runs. */
    promptVersion?: string;
    embedModel: string;
    categoryVersion?: number;
  },
): StageName[] {
  const p = d.provenance ?? {};
  const want = (s: StageName) => requested.includes(s);
  if (want("PARSE") && (now.force || p.PARSE?.parser !== PARSER_VERSION)) return [...STAGES];
  const u = p.UNDERSTAND;
  const understand =
    want("UNDERSTAND") &&
    (now.force ||
      !u ||
      !now.understandModels.includes(String(u.model)) ||
      (now.promptVersion !== undefined && u.promptVersion !== now.promptVersion) ||
      (now.categoryVersion !== undefined && u.categoryVersion !== now.categoryVersion));
  const e = p.EMBED;
  const embed =
    want("EMBED") && (now.force || !e || e.model !== now.embedModel || e.chunker !== CHUNKER_VERSION);
  const index =
    understand || embed || (want("INDEX") && (now.force || !p.INDEX || p.INDEX.category !== d.category));
  return [
    ...(understand ? (["UNDERSTAND"] as const) : []),
    ...(embed ? (["EMBED"] as const) : []),
    ...(index ? (["INDEX"] as const) : []),
  ];
}

import { STAGES, type StageName } from "../domain/messages.ts";
import { embedStage } from "./embed.ts";
import { indexStage } from "./index-stage.ts";
import { parseStage } from "./parse.ts";
import type { StageHandler } from "./types.ts";
import { understandStage } from "./understand.ts";

export type { ChunksArtifact, StageHandler, StageInput, StageOutput } from "./types.ts";

export const STAGE_HANDLERS: Record<StageName, StageHandler> = {
  PARSE: parseStage,
  UNDERSTAND: understandStage,
  EMBED: embedStage,
  INDEX: indexStage,
};

/** Start-up check: every stage has exactly one handler. */
export function checkStageHandlers(handlers: Partial<Record<string, StageHandler>>): void {
  const missing = STAGES.filter((s) => typeof handlers[s] !== "function");
  const unknown = Object.keys(handlers).filter((k) => !(STAGES as readonly string[]).includes(k));
  if (missing.length || unknown.length) {
    throw new Error(
      `stage handlers: missing ${missing.join(", ") || "none"}, unknown ${unknown.join(", ") || "none"}`,
    );
  }
}

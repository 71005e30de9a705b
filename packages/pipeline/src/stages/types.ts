import type { Document, Prisma } from "@docfleet/schema";
import type { BatchOptions } from "../domain/codecs.ts";
import type { PipelineDeps } from "../domain/context.ts";
import type { StoredCategory } from "../repositories/categories.ts";
import type { UnderstandInputs } from "../repositories/understand-inputs.ts";

/** The categories a batch allows (the tenant's, versioned); given to stages by the runner. */
export interface CategoryCatalog {
  forBatch(tenantId: string, batchOptions: BatchOptions | null): Promise<StoredCategory[]>;
}

export interface StageInput {
  doc: Document;
  deps: PipelineDeps;
  categories: CategoryCatalog;
  /** Aborted when the stage's time budget runs out. */
  signal: AbortSignal;
  /**
   * Tells the runner the stage moved forward (one page read): its time budget then counts afresh from now,
   * within STAGE_PROGRESS_CAP budgets in all. A long scan on a busy machine keeps going while it
   * progresses; a stage that stalls still times out after one budget.
   */
  progress: () => void;
  /**
   * The understand stage's reads, made by the runner's claim in the same statement (one round trip
   * fewer per document); absent when the claim took another path, and the stage then reads them itself.
   * Throws as `understandInputs` would (a stored value that does not fit its schema).
   */
  understandInputs?: () => UnderstandInputs;
}

export interface StageOutput {
  /** Columns to save on the document together with the move to the next stage. */
  data: Prisma.DocumentUncheckedUpdateManyInput;
  /** Set by a stage that judges the document (understand). */
  needsReview?: boolean;
  /** What produced the result (model, prompt and category versions, ...): kept per stage on the document. */
  provenance?: Record<string, unknown>;
  /** Added to the stage.completed event. */
  payload?: Record<string, unknown>;
}

/**
 * One stage's work. Must be idempotent: it may run twice for the same document (redelivery), so it
 * writes artifacts under deterministic keys and never appends.
 * Throws DocumentError for bad input (fails at once), anything else to retry.
 */
export type StageHandler = (input: StageInput) => Promise<StageOutput>;

/** Chunks with their vectors, written by embed and read by index. */
export interface ChunksArtifact {
  model: string;
  dimensions: number;
  chunks: { chunk: number; text: string; embedding: number[] }[];
}

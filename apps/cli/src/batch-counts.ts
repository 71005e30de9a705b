import { graphql } from "./generated/gql.ts";
import type { BatchCountsFieldsFragment } from "./generated/graphql.ts";

/** A batch's counters: one selection for `watch` (batchProgress) and `upload` (its wait and summary). */
export const BatchCountsFields = graphql(`
  fragment BatchCountsFields on BatchCounts {
    total pendingUpload queued processing completed failed needsReview done
  }
`);

export type BatchCounts = BatchCountsFieldsFragment;

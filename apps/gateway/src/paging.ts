import { GraphQLError, type GraphQLSchema, isObjectType } from "graphql";

// Page sizes of the cursor connections (batches, documents, Batch.documents; search and similar check
// their own, SEARCH_MAX_FIRST). A page larger than the cap is refused, never cut silently: a client
// that asked for 500 and got 100 would take the 100 for everything.

/** The largest page a connection answers. */
export const MAX_PAGE_SIZE = 100;

/**
 * A connection's `maxSize`: the cap, after refusing a `first` or `last` over it with BAD_REQUEST
 * (extensions.maxPageSize says the cap).
 */
export function pageCap(args: { first?: number | null; last?: number | null }): number {
  for (const name of ["first", "last"] as const) {
    const n = args[name];
    if (n != null && n > MAX_PAGE_SIZE)
      throw new GraphQLError(
        `${name} may be at most ${MAX_PAGE_SIZE} (asked ${n}): read more with further pages (after: pageInfo.endCursor)`,
        { extensions: { code: "BAD_REQUEST", maxPageSize: MAX_PAGE_SIZE } },
      );
  }
  return MAX_PAGE_SIZE;
}

/**
 * Describes the `totalCount` fields the Prisma plugin adds to connections (it takes no description for
 * them), on the built schema.
 */
export function describeTotalCounts(schema: GraphQLSchema): void {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || !type.name.endsWith("Connection")) continue;
    const field = type.getFields().totalCount;
    if (field && !field.description)
      field.description = "how many items the connection holds over all its pages (the filter applied)";
  }
}

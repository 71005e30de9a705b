import { CategoryError, RequestError } from "@docfleet/pipeline";
import { GraphQLError } from "graphql";

/** Turns expected domain errors into GraphQL errors with a code; anything else stays masked. */
export function toGraphQLError(err: unknown): unknown {
  if (err instanceof RequestError || err instanceof CategoryError)
    return new GraphQLError(err.message, { extensions: { code: err.code } });
  return err;
}

export async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toGraphQLError(err);
  }
}

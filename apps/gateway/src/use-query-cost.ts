import { type DocumentNode, GraphQLError, type GraphQLSchema } from "graphql";
import { type ComplexityEstimator, getComplexity } from "graphql-query-complexity";
import type { Plugin } from "graphql-yoga";
import type { Context } from "./builder.ts";

// Query cost with the operation's variables and the arguments' defaults resolved (issue 15: armor's
// cost limit multiplied only a literal `first`, so five aliases of batch → documents → batch →
// documents with `first: $n` built a 450 MB answer). graphql-query-complexity coerces the variables
// and applies defaults as execution will; the estimator below multiplies by the page each list-like
// field asks for. Checked before any resolver runs, on every transport (HTTP, SSE, graphql-ws).

/** A connection's page when the operation names neither `first` nor `last` (the relay plugin's default). */
export const DEFAULT_PAGE = 20;

/**
 * Every field costs 1, plus its selection's cost times the items it answers: `first` or `last` (a
 * variable or a default resolved) on a paged field, else 1. Nested connections multiply.
 */
export const pageEstimator: ComplexityEstimator = ({ field, args, childComplexity }) => {
  const paged = field.args.some((a) => a.name === "first" || a.name === "last");
  if (!paged) return 1 + childComplexity;
  const asked = Number(args.first ?? args.last ?? DEFAULT_PAGE);
  const items = Number.isFinite(asked) ? Math.max(1, Math.floor(asked)) : DEFAULT_PAGE;
  return 1 + childComplexity * items;
};

/**
 * The operation's cost with these variables, or undefined when it cannot be computed (variables that
 * do not coerce, an unknown operation: execution answers those itself, before any resolver).
 */
export function queryCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown> | null | undefined,
  operationName?: string | null,
): number | undefined {
  try {
    return getComplexity({
      schema,
      query: document,
      variables: variables ?? {},
      operationName: operationName ?? undefined,
      estimators: [pageEstimator],
    });
  } catch (err) {
    // its own node limit (10,000 by default) is a refusal too; anything else is for execution to say
    if (err instanceof GraphQLError && /maximum allowed number of nodes/.test(err.message))
      return Number.POSITIVE_INFINITY;
    return undefined;
  }
}

/** Refuses an operation whose cost is over `maxCost`: BAD_REQUEST, `extensions.limit: "maxCost"`, HTTP 400. */
export function useQueryCost(maxCost: number): Plugin<Context> {
  const refusal = (cost: number) =>
    new GraphQLError(
      `query cost ${Number.isFinite(cost) ? Math.ceil(cost) : "beyond counting"} is over the limit of ${maxCost}: ` +
        "ask for smaller pages (first/last, variables included) or fewer nested lists",
      { extensions: { code: "BAD_REQUEST", limit: "maxCost", cost, maxCost, http: { status: 400 } } },
    );
  const check = ({
    args,
    setResultAndStopExecution,
  }: {
    args: {
      schema: GraphQLSchema;
      document: DocumentNode;
      variableValues?: Record<string, unknown> | null;
      operationName?: string | null;
    };
    setResultAndStopExecution: (result: { errors: GraphQLError[] }) => void;
  }) => {
    const cost = queryCost(args.schema, args.document, args.variableValues, args.operationName);
    if (cost !== undefined && cost > maxCost) setResultAndStopExecution({ errors: [refusal(cost)] });
  };
  return { onExecute: check, onSubscribe: check } as Plugin<Context>;
}

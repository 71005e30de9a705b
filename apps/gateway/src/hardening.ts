import type { RateBudget, RateLimiter } from "@docfleet/pipeline";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import {
  type DocumentNode,
  type FieldNode,
  GraphQLError,
  getOperationAST,
  Kind,
  NoSchemaIntrospectionCustomRule,
  type SelectionSetNode,
  type ValidationContext,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Context } from "./builder.ts";
import { useQueryCost } from "./use-query-cost.ts";
import { useStorableText } from "./use-storable-text.ts";

// The GraphQL surface's defences (issue 8): armor limits, introspection, GraphiQL and suggestions by
// profile, and per-key rate limits on uploads and searches. app.ts puts `hardeningPlugins()` into
// createYoga; every refusal here happens before any resolver runs.

/** development: introspection, GraphiQL and "Did you mean" on; production: all three off. */
export type Profile = "development" | "production";

/** Static limits on one GraphQL document, checked at parse and validation, before any resolver. */
export interface GraphQLLimits {
  /** Nesting of selections (armor counts `{ a { b } }` as 2). */
  maxDepth: number;
  /**
   * Query cost (`use-query-cost.ts`): each field 1 plus its selection times the page it asks for
   * (`first`/`last` as literals, variables or defaults; a connection without them 20), so nested
   * connections multiply. Checked with the variables, before any resolver.
   */
  maxCost: number;
  maxAliases: number;
  /** Lexical tokens of the document (bounds parse work before anything else runs). */
  maxTokens: number;
  maxDirectives: number;
}

/** Per key and per minute; 0 turns a limit off. The composition root builds a limiter per budget (`rateBudgets`). */
export interface RateLimits {
  /** Files registered (requestUploads counts its files, createBatch counts 1). */
  uploadFilesPerMin: number;
  /** search and similar calls. */
  searchesPerMin: number;
  /** Prefix of the counters in a shared store: several deployments (or tests) on one Redis. */
  keyPrefix: string;
}

export interface HardeningOptions {
  /** Default production: a library caller opts in to the open development surface. */
  profile?: Profile;
  /** Override the profile's choice. */
  introspection?: boolean;
  graphiql?: boolean;
  limits?: Partial<GraphQLLimits>;
}

export interface Hardening {
  profile: Profile;
  introspection: boolean;
  graphiql: boolean;
  limits: GraphQLLimits;
}

/**
 * Sized from our own queries (the CLI's, the watch subscription, the tests' and benches', GraphiQL's
 * introspection; hardening.test.ts checks every one against these): the deepest has 5 levels, the
 * costliest 2,001 (a 200-document page, tests/bench/corpus-robustness.ts; a 100-document page of 19
 * fields is about 2,000), the longest 183 tokens (introspection); none uses an alias or a directive.
 * Depth and cost get 2-3x headroom for richer clients; a page of pages (100 batches × 100 documents:
 * 60,000 and more) and issue 15's five aliases of batch → documents → batch → documents (over 23,000
 * from `first: 10` up) cost far more than the limit.
 */
export const DEFAULT_LIMITS: GraphQLLimits = {
  maxDepth: 10,
  maxCost: 5_000,
  maxAliases: 15,
  maxTokens: 2_000,
  maxDirectives: 20,
};

/**
 * Uploads: 120,000 files a minute (2,000/s) per key. `docfleet upload` registers about 1,000 files/s
 * at its best on one machine (tests/bench/upload.ts), so a demanding bulk upload of 500,000 files never
 * waits on the limit, even with the one-minute window's alignment; the limit is there to stop a runaway
 * script from filling the database, not to pace honest clients. Searches: 600 a minute (10/s) per key,
 * far above a person or a UI typing ahead, low enough that a scraper cannot hammer the index and the
 * embedding model.
 */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  uploadFilesPerMin: 120_000,
  searchesPerMin: 600,
  keyPrefix: "docfleet:rl",
};

/** Fills in the defaults: the profile decides introspection and GraphiQL unless told otherwise. */
export function resolveHardening(opts: HardeningOptions = {}): Hardening {
  const profile = opts.profile ?? "production";
  const open = profile === "development";
  return {
    profile,
    introspection: opts.introspection ?? open,
    graphiql: opts.graphiql ?? open,
    limits: { ...DEFAULT_LIMITS, ...defined(opts.limits) },
  };
}

function defined<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The envelop plugins of the hardened surface, for createYoga's `plugins`: armor's limits, the rate
 * limits, and in production no introspection and no suggestions.
 */
export function hardeningPlugins(h: Hardening, limiters: RateLimiters): Plugin<Context>[] {
  const plugins: Plugin<Context>[] = [
    EnvelopArmorPlugin({
      maxTokens: { n: h.limits.maxTokens, ...refuse("maxTokens") },
      maxDepth: { n: h.limits.maxDepth, ...refuse("maxDepth") },
      // Replaced by useQueryCost below: armor's multiplies only a literal `first` (issue 15).
      costLimit: { enabled: false },
      maxAliases: { n: h.limits.maxAliases, ...refuse("maxAliases") },
      maxDirectives: { n: h.limits.maxDirectives, ...refuse("maxDirectives") },
      // Replaced by useNoSuggestions below, which also catches enum values and variables.
      blockFieldSuggestion: { enabled: false },
    }) as Plugin<Context>,
    useQueryCost(h.limits.maxCost),
    useStorableText(),
    useRateLimits(limiters),
  ];
  if (!h.introspection) plugins.push(useNoIntrospection(), useNoSuggestions());
  return plugins;
}

/**
 * armor's rejection as BAD_REQUEST with the limit named. The validation limits report through the
 * validation context (a 400 with every error listed); the token limit, counted by the lexer, has no
 * context and throws out of parse instead.
 */
function refuse(limit: keyof GraphQLLimits) {
  return {
    propagateOnRejection: false,
    onReject: [
      (ctx: ValidationContext | null, err: GraphQLError) => {
        const error = new GraphQLError(err.message.replace(/^Syntax Error: /, ""), {
          extensions: { code: "BAD_REQUEST", limit, http: { status: 400 } },
        });
        if (!ctx) throw error;
        ctx.reportError(error);
      },
    ],
  };
}

/**
 * `__schema` and `__type` refused on every transport. Not useDisableIntrospection: it keys on the HTTP
 * request and so lets graphql-ws subscriptions (no request) introspect.
 */
function useNoIntrospection(): Plugin<Context> {
  return {
    onValidate: ({ addValidationRule }) => addValidationRule(NoSchemaIntrospectionCustomRule),
  };
}

const SUGGESTION = /\s*Did you mean [^?]*\?/g;

/**
 * "Did you mean ...?" names fields, arguments, types and enum values: the schema, piece by piece.
 * armor's blockFieldSuggestion only rewrites validation errors of the form `Did you mean "x"?`, so
 * enum suggestions and execution-time variable errors would still leak; this strips all of them.
 */
function useNoSuggestions(): Plugin<Context> {
  const strip = (errors: readonly Error[]) => {
    for (const e of errors) e.message = e.message.replace(SUGGESTION, "");
  };
  return {
    onValidate:
      () =>
      ({ result }) =>
        strip(result),
    onExecute: () => ({
      onExecuteDone: ({ result }) => {
        if (!(Symbol.asyncIterator in result) && result.errors) strip(result.errors);
      },
    }),
  };
}

// --- rate limits --------------------------------------------------------------------------------

export type RateKind = "upload" | "search";

/** A limiter per budget, built and closed by the composition root; a kind left out is not limited. */
export type RateLimiters = Partial<Record<RateKind, RateLimiter>>;

/**
 * The budgets of `limits` (the defaults where unset), for the composition root to build a limiter
 * each with the pipeline's createRateLimiter: one-minute windows, none for a limit of 0.
 */
export function rateBudgets(limits: Partial<RateLimits> = {}): Partial<Record<RateKind, RateBudget>> {
  const l = { ...DEFAULT_RATE_LIMITS, ...defined(limits) };
  const budget = (kind: RateKind, points: number): RateBudget | undefined =>
    points > 0 ? { keyPrefix: `${l.keyPrefix}:${kind}`, points, windowSeconds: 60 } : undefined;
  return { upload: budget("upload", l.uploadFilesPerMin), search: budget("search", l.searchesPerMin) };
}

/** What one operation takes from each budget: only root fields cost, before anything runs. */
export function operationCost(
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Readonly<Record<string, unknown>> | null | undefined,
): Record<RateKind, number> {
  const cost = { upload: 0, search: 0 };
  const op = getOperationAST(document, operationName);
  if (!op || op.operation === "subscription") return cost;
  const fragments = new Map(
    document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d]] : [])),
  );
  const seen = new Set<string>();
  const visit = (set: SelectionSetNode) => {
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) addField(s);
      else if (s.kind === Kind.INLINE_FRAGMENT) visit(s.selectionSet);
      else if (!seen.has(s.name.value)) {
        seen.add(s.name.value);
        const f = fragments.get(s.name.value);
        if (f) visit(f.selectionSet);
      }
    }
  };
  const addField = (f: FieldNode) => {
    switch (f.name.value) {
      case "search":
      case "similar":
        cost.search += 1;
        break;
      case "createBatch":
        cost.upload += 1;
        break;
      case "requestUploads":
        cost.upload += filesIn(f, variables);
        break;
    }
  };
  visit(op.selectionSet);
  return cost;
}

/** requestUploads' file count: a literal list, or a variable (a lone object coerces to a list of one). */
function filesIn(f: FieldNode, variables: Readonly<Record<string, unknown>> | null | undefined): number {
  const arg = f.arguments?.find((a) => a.name.value === "files")?.value;
  if (!arg) return 0;
  if (arg.kind === Kind.LIST) return arg.values.length;
  if (arg.kind === Kind.OBJECT) return 1;
  if (arg.kind !== Kind.VARIABLE) return 0;
  const value = variables?.[arg.name.value];
  if (Array.isArray(value)) return value.length;
  return value && typeof value === "object" ? 1 : 0;
}

/** The budget's owner: the API key, else the tenant's anonymous callers (embedded mode). */
export function rateKey(ctx: Context): string {
  return ctx.auth.keyId ? `key:${ctx.auth.keyId}` : `tenant:${ctx.tenantId}:anonymous`;
}

const WHAT: Record<RateKind, string> = { upload: "files registered", search: "searches" };

/** "a minute" for the usual window, else its length. */
function per(b: RateBudget): string {
  return b.windowSeconds === 60 ? "a minute" : `every ${b.windowSeconds} s`;
}

/**
 * Refuses an operation over its key's budget before any resolver runs: RATE_LIMITED with
 * `retryAfterMs` (HTTP 429 and Retry-After over HTTP). Nothing is executed, so a client may resend
 * even a mutation that is not idempotent.
 */
function useRateLimits(limiters: RateLimiters): Plugin<Context> {
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const cost = operationCost(args.document, args.operationName, args.variableValues);
      for (const kind of ["search", "upload"] as const) {
        const points = cost[kind];
        const limiter = limiters[kind];
        if (points === 0 || !limiter) continue;
        const { budget } = limiter;
        if (points > budget.points) {
          setResultAndStopExecution({
            errors: [
              new GraphQLError(
                `this request has ${points} ${WHAT[kind]}, more than the ${budget.points} ${per(budget)} this key may have: send fewer per request`,
                { extensions: { code: "BAD_REQUEST", http: { status: 400 } } },
              ),
            ],
          });
          return;
        }
        const decision = await limiter.consume(rateKey(args.contextValue), points);
        if (!decision.allowed) {
          setResultAndStopExecution({ errors: [rateLimited(kind, budget, decision.retryAfterMs)] });
          return;
        }
      }
    },
  };
}

export function rateLimited(kind: RateKind, budget: RateBudget, retryAfterMs: number): GraphQLError {
  const seconds = Math.ceil(retryAfterMs / 1000);
  return new GraphQLError(
    `rate limit: at most ${budget.points} ${WHAT[kind]} ${per(budget)} for this API key; retry in ${seconds} s`,
    {
      extensions: {
        code: "RATE_LIMITED",
        retryAfterMs,
        http: { status: 429, headers: { "retry-after": String(seconds) } },
      },
    },
  );
}

/** graphql-ws: parse errors (a syntax error, the token limit) as the errors onSubscribe may answer. */
export function parseOrErrors(
  parse: (source: string) => DocumentNode,
  query: string,
): DocumentNode | GraphQLError[] {
  try {
    return parse(query);
  } catch (err) {
    if (err instanceof GraphQLError) return [err];
    throw err;
  }
}

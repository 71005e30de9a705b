// The package's API: the composition root, the services, the domain types and the ports' contracts.
// Adapters are reached only through the composition root (contract tests import them by path).
export * from "./composition/index.ts";
export * from "./config.ts";
export * from "./domain/codecs.ts";
export * from "./domain/context.ts";
export * from "./domain/errors.ts";
export * from "./domain/events.ts";
export * from "./domain/ids.ts";
export * from "./domain/lifecycle.ts";
export * from "./domain/messages.ts";
export * from "./domain/outages.ts";
export * from "./domain/plan.ts";
export * from "./domain/webhooks.ts";
export * from "./observability/index.ts";
export type { ParsedDocument, ParseOptions } from "./parse/index.ts";
export {
  createInProcessParser,
  createThreadParser,
  type DocumentParser,
  type ParserOptions,
} from "./parse/sandbox.ts";
export type * from "./ports/database.ts";
export type * from "./ports/event-bus.ts";
export type * from "./ports/models.ts";
export * from "./ports/object-store.ts";
export type * from "./ports/queue.ts";
export type * from "./ports/rate-limiter.ts";
export type * from "./ports/search.ts";
export { readAfter as readEventsAfter } from "./repositories/events.ts";
export * as graphReads from "./repositories/graph.ts";
export * from "./repositories/tenant-scope.ts";
export * from "./services/index.ts";
export { checkStageHandlers, STAGE_HANDLERS } from "./stages/index.ts";
export * from "./webhook-signature.ts";

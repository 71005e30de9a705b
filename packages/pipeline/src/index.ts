export { LocalObjectStore } from "./adapters/objectstore/local.ts";
export * from "./categories.ts";
export * from "./config.ts";
export * from "./context.ts";
export * from "./errors.ts";
export * from "./factories.ts";
export * from "./keys.ts";
export * from "./lifecycle.ts";
export * from "./messages.ts";
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
export type * from "./ports/search.ts";
export { OutboxRelay } from "./relay.ts";
export * from "./service.ts";
export { checkStageHandlers, STAGE_HANDLERS } from "./stages/index.ts";
export type { StoredField } from "./stages/understand.ts";
export * from "./tenant-scope.ts";

export type { BrowserOptions, Gateway, GatewayOptions } from "./app.ts";
export { createGateway, hashKey, LOCAL_TENANT_ID } from "./app.ts";
export {
  type ConsoleOptions,
  consoleServer,
  findConsoleDir,
  LOCAL_KEY_HEADER,
  LOCAL_KEY_PATH,
  offersKeyTo,
} from "./console.ts";
export {
  DEFAULT_LIMITS,
  DEFAULT_RATE_LIMITS,
  type GraphQLLimits,
  type HardeningOptions,
  type Profile,
  type RateKind,
  type RateLimiters,
  type RateLimits,
  rateBudgets,
} from "./hardening.ts";
export { type GatewayRoleOptions, gatewayRole } from "./role.ts";
export { toSchema } from "./schema/index.ts";
export { CSRF_HEADERS } from "./use-csrf-prevention.ts";
export { DEFAULT_PAGE, queryCost } from "./use-query-cost.ts";

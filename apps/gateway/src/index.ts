export type { Gateway, GatewayOptions } from "./app.ts";
export { createGateway, hashKey, LOCAL_TENANT_ID } from "./app.ts";
export {
  createRateLimiter,
  DEFAULT_LIMITS,
  DEFAULT_RATE_LIMITS,
  type GraphQLLimits,
  type HardeningOptions,
  type Profile,
  type RateLimiter,
  type RateLimits,
} from "./hardening.ts";
export { toSchema } from "./schema/index.ts";

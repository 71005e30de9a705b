export type { Gateway, GatewayOptions } from "./app.ts";
export { createGateway, hashKey, LOCAL_TENANT_ID } from "./app.ts";
export { toSchema } from "./schema/index.ts";

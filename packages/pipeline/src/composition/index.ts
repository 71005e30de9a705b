export { protectDataDir } from "../adapters/owner-only.ts";
export * from "./adapters.ts";
export * from "./application.ts";
export * from "./deps.ts";
export * from "./metrics-server.ts";
export * from "./rate-limiter.ts";

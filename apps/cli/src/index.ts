export { main, serve, search } from "./main.ts";
export { upload, formatSummary } from "./commands/upload.ts";
export type { UploadSummary } from "./commands/upload.ts";
export { GatewayClient } from "./client.ts";
export { ExitCode } from "./exit-codes.ts";
export { startSystem, buildDeps } from "./system.ts";

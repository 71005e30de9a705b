export { GatewayClient } from "./client.ts";
export type { UploadSummary } from "./commands/upload.ts";
export { formatSummary, upload } from "./commands/upload.ts";
export { ExitCode } from "./exit-codes.ts";
export { main, search, serve } from "./main.ts";
export { buildDeps, startSystem } from "./system.ts";

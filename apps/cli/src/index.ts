export { GatewayClient } from "./client.ts";
export { search } from "./commands/search.ts";
export type { UploadOptions, UploadSummary } from "./commands/upload.ts";
export { formatSummary, UPLOAD_DEFAULTS, upload, uploadExitCode } from "./commands/upload.ts";
export { ExitCode } from "./exit-codes.ts";
export { main, serve } from "./main.ts";
export { buildDeps, startSystem } from "./system.ts";
export { resolveSources } from "./upload/sources.ts";

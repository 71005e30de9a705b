export { createWorker, parseRoles } from "./worker.ts";
export type { Worker, WorkerOptions } from "./worker.ts";

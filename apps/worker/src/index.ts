export type { Worker, WorkerOptions } from "./worker.ts";
export { createWorker, parseRoles } from "./worker.ts";

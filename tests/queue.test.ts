import { MemoryQueue } from "@docfleet/pipeline/adapters/queue/memory";
import { queueContract } from "./contracts/queue.contract.ts";

queueContract("memory", async (deliveryLimit) => new MemoryQueue({ deliveryLimit }));

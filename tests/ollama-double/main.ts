/**
 * Runs the Ollama DOUBLE as its own process, so its timers do not wait behind the CPU work of the
 * process that benchmarks against it. Options come as JSON in OLLAMA_DOUBLE_OPTIONS; the first stdout
 * line is `{"url": ...}`. Counters: GET <url>/_double/stats.
 *
 *   OLLAMA_DOUBLE_OPTIONS='{"parallel":4,"timeScale":0.5}' node --import tsx tests/ollama-double/main.ts
 */
import { type OllamaDoubleOptions, startOllamaDouble } from "./index.ts";

const options = JSON.parse(process.env.OLLAMA_DOUBLE_OPTIONS ?? "{}") as OllamaDoubleOptions;
const double = await startOllamaDouble(options);
console.log(JSON.stringify({ url: double.url }));
const stop = () => void double.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

/**
 * A `docfleet worker --roles all` for tests/bench/distributed.ts `--double`: the same composition as the
 * CLI's worker (config from the environment, createApplication, createWorker), with one difference: its
 * models are NoopModelsDouble, a test double that does no work (every document "other", no fields, a
 * constant unit vector). It stands for the seed peer's no-op models in the like-for-like comparison; it
 * is not a production mode and nothing outside this benchmark can select it.
 *
 *   node --import tsx tests/bench/noop-models-worker.ts [concurrency=4]
 */
import {
  adapterConfig,
  baseEnvSchema,
  buildDeps,
  createApplication,
  type Models,
  parseEnv,
  STAGES,
  type StageName,
} from "@docfleet/pipeline";
import { createWorker } from "@docfleet/worker";

const DIMENSIONS = 256;
const UNIT = Array.from({ length: DIMENSIONS }, (_, i) => (i === 0 ? 1 : 0));

/** Test double of the models port: answers at once, computes nothing. */
export const NoopModelsDouble: Models = {
  names: { understand: "test-double-noop", embed: "test-double-noop" },
  promptVersion: "test-double",
  embeddingDimensions: DIMENSIONS,
  qualify: (model) => model,
  async understand(input) {
    const category = input.categories.find((c) => c.name === "other") ?? input.categories[0]!;
    return {
      category: category.name,
      confidence: 1,
      fields: [],
      model: "test-double-noop",
      promptVersion: "test-double",
    };
  },
  async embed(texts) {
    return texts.map(() => UNIT);
  },
};

const n = Number(process.argv[2] ?? 4);
const cfg = adapterConfig(parseEnv(baseEnvSchema, process.env));
const deps = await buildDeps(cfg, "http://unused.invalid", { models: NoopModelsDouble });
const app = await createApplication(deps, { requeueOnStart: false, relay: false });
const concurrency = Object.fromEntries(STAGES.map((s) => [s, n])) as Record<StageName, number>;
const worker = createWorker({
  app,
  roles: [...STAGES],
  concurrency,
  reconcileEveryMs: Math.max(1000, Math.floor(deps.settings.leaseMs / 4)),
});
await app.start([worker]);
process.stderr.write("docfleet worker consuming (noop models double)\n");
const stop = () =>
  void app.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
process.once("SIGTERM", stop);
process.once("SIGINT", stop);

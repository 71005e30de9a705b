import { createBuiltinModels } from "@docfleet/pipeline/adapters/models/builtin/index";
import { OllamaModels } from "@docfleet/pipeline/adapters/models/ollama";
import { modelsContract } from "./contracts/models.contract.ts";
import { startOllamaDouble } from "./ollama-double/index.ts";

// One contract, both adapters: the built-in CPU models and the Ollama adapter talking to the Ollama
// DOUBLE (tests/ollama-double; a protocol double, not a model).
modelsContract("builtin", async () => ({ models: createBuiltinModels(), close: async () => {} }));

modelsContract("ollama (against the Ollama double)", async () => {
  const double = await startOllamaDouble({ timeScale: 0 });
  const models = new OllamaModels({
    url: double.url,
    textModel: "qwen2.5:7b-instruct",
    visionModel: "qwen2.5vl:7b",
    embedModel: "nomic-embed-text",
    embedDimensions: 768,
    timeoutMs: 10_000,
    maxRetries: 2,
    embedBatch: 4,
    visionPixels: 1_003_520,
  });
  return { models, close: () => double.close() };
});

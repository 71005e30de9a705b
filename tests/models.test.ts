import { createBuiltinModels } from "@docfleet/pipeline/adapters/models/builtin/index";
import { OllamaModels } from "@docfleet/pipeline/adapters/models/ollama";
import { modelsContract } from "./contracts/models.contract.ts";
import { adapterOptions } from "./ollama-double/fixtures.ts";
import { startOllamaDouble } from "./ollama-double/index.ts";

// One contract, both adapters: the built-in CPU models and the Ollama adapter talking to the Ollama
// DOUBLE (tests/ollama-double; a protocol double, not a model).
modelsContract("builtin", async () => ({ models: createBuiltinModels(), close: async () => {} }));

modelsContract("ollama (against the Ollama double)", async () => {
  const double = await startOllamaDouble({ timeScale: 0 });
  const models = new OllamaModels(adapterOptions(double.url));
  return { models, close: () => double.close() };
});

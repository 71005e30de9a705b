import type { Models } from "../ports/models.ts";
import type { Metrics } from "./metrics.ts";
import type { Tracing } from "./tracing.ts";

/**
 * The models port with a latency histogram, a token counter and a child span per call (the stage's
 * span is the parent). Embedding calls count no tokens: the port returns vectors only.
 */
export function instrumentModels(models: Models, metrics?: Metrics, tracing?: Tracing): Models {
  const timed = async <T>(role: string, model: string, fn: () => Promise<T>): Promise<T> => {
    const end = metrics?.modelDuration.startTimer({ role, model });
    try {
      return tracing
        ? await tracing.span(`docfleet.model.${role}`, { "docfleet.model": model }, () => fn())
        : await fn();
    } finally {
      end?.();
    }
  };
  return {
    get names() {
      return models.names;
    },
    get promptVersion() {
      return models.promptVersion;
    },
    get embeddingDimensions() {
      return models.embeddingDimensions;
    },
    get visionPixelBudget() {
      return models.visionPixelBudget;
    },
    qualify: (m) => models.qualify(m),
    async understand(input) {
      const model = input.model ? models.qualify(input.model) : models.names.understand;
      const u = await timed("understand", model, () => models.understand(input));
      if (u.usage && metrics) {
        metrics.modelTokens.inc({ role: "understand", model: u.model, kind: "prompt" }, u.usage.promptTokens);
        metrics.modelTokens.inc(
          { role: "understand", model: u.model, kind: "completion" },
          u.usage.completionTokens,
        );
      }
      return u;
    },
    embed: (texts, signal) => timed("embed", models.names.embed, () => models.embed(texts, signal)),
  };
}

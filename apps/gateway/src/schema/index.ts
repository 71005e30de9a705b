import type { GraphQLSchema } from "graphql";
import { builder } from "../builder.ts";
import { describeTotalCounts } from "../paging.ts";
import "./batch.ts";
import "./category.ts";
import "./deletion.ts";
import "./document.ts";
import "./node.ts";
import "./keys.ts";
import "./operations.ts";
import "./progress.ts";
import "./search.ts";
import "./upload.ts";
import "./webhooks.ts";

export function toSchema() {
  const schema = builder.toSchema({ sortSchema: false });
  assertEveryOperationScoped(schema);
  describeTotalCounts(schema);
  return schema;
}

/** Every operation names the API key scopes it needs: a root field without `authScopes` stops the build. */
function assertEveryOperationScoped(schema: GraphQLSchema) {
  const unscoped = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].flatMap(
    (type) =>
      Object.values(type?.getFields() ?? {})
        .filter((f) => !(f.extensions?.pothosOptions as { authScopes?: unknown } | undefined)?.authScopes)
        .map((f) => `${type!.name}.${f.name}`),
  );
  if (unscoped.length) throw new Error(`operations without authScopes: ${unscoped.join(", ")}`);
}

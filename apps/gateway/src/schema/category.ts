import type { Category as CategoryShape } from "@docfleet/pipeline";
import { builder } from "../builder.ts";

const Category = builder.objectRef<CategoryShape>("Category");
Category.implement({
  fields: (t) => ({
    name: t.exposeString("name"),
    description: t.exposeString("description"),
  }),
});

builder.queryFields((t) => ({
  categories: t.field({
    type: [Category],
    resolve: (_root, _args, ctx) => [...ctx.pipeline.deps.categories],
  }),
}));

import type { StoredCategory } from "@docfleet/pipeline";
import { builder } from "../builder.ts";

const Category = builder.objectRef<StoredCategory>("Category");
Category.implement({
  description:
    "A category documents are sorted into, with the fields extracted for it (per tenant, versioned)",
  fields: (t) => ({
    name: t.exposeString("name", {
      description: "snake_case, unique per tenant (documents carry it as `category`)",
    }),
    description: t.exposeString("description", {
      description: "what belongs here, in words (models read it)",
    }),
    keywords: t.stringList({
      description: "typical words and phrases (they bootstrap the built-in classifier)",
      resolve: (c) => c.keywords ?? [],
    }),
    fields: t.field({
      type: "JSON",
      description:
        'the fields as a JSON Schema subset: {"type":"object","properties":{"total":{"type":"string","format":"money"},...}}; ' +
        'types: string, number, date ({"type":"string","format":"date"}), money ({"type":"string","format":"money"}), ' +
        'enum ({"type":"string","enum":[...]}), array ({"type":"array","items":...})',
      resolve: (c) => c.fields ?? { type: "object", properties: {} },
    }),
    version: t.exposeInt("version", {
      description: "bumped by every change; documents record the one they used",
    }),
    updatedAt: t.expose("updatedAt", { type: "DateTime", description: "when the latest version was made" }),
  }),
});

const CategoryInput = builder.inputType("CategoryInput", {
  description: "A new category",
  fields: (t) => ({
    name: t.string({ required: true, description: "snake_case, unique per tenant" }),
    description: t.string({ required: true, description: "what belongs here, in words (models read it)" }),
    keywords: t.stringList({ description: "typical words and phrases (bootstrap the built-in classifier)" }),
    fields: t.field({ type: "JSON", description: "see Category.fields" }),
  }),
});

const CategoryChange = builder.inputType("CategoryChange", {
  description: "Changes to a category: what is given replaces the current value, what is left out stays",
  fields: (t) => ({
    description: t.string({ description: "what belongs here, in words" }),
    keywords: t.stringList({ description: "the new keyword list (replaces the old one)" }),
    fields: t.field({
      type: "JSON",
      description: "the new fields, a JSON Schema subset (see Category.fields)",
    }),
  }),
});

builder.queryFields((t) => ({
  categories: t.field({
    authScopes: { read: true },
    type: [Category],
    description: "The tenant's categories (the default set until it defines its own). Scope: read",
    resolve: (_root, _args, ctx) => ctx.services.categories.list(ctx.tenantId),
  }),
}));

builder.mutationFields((t) => ({
  defineCategory: t.field({
    authScopes: { admin: true },
    type: Category,
    description:
      "Adds a category (CONFLICT when the name is taken: change it with updateCategory; BAD_REQUEST for invalid fields, with the reason). Scope: admin",
    args: { input: t.arg({ type: CategoryInput, required: true, description: "the category" }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.categories.define(ctx.tenantId, {
        name: input.name,
        description: input.description,
        keywords: input.keywords ?? undefined,
        fields: input.fields ?? undefined,
      } as never),
  }),
  updateCategory: t.field({
    authScopes: { admin: true },
    type: Category,
    description:
      "Changes a category's description, keywords or fields; a real change bumps its version (reprocess then re-runs what it affects). NOT_FOUND for an unknown name. Scope: admin",
    args: {
      name: t.arg.string({ required: true, description: "the category to change" }),
      change: t.arg({ type: CategoryChange, required: true, description: "what to change" }),
    },
    resolve: (_root, { name, change }, ctx) =>
      ctx.services.categories.update(ctx.tenantId, name, {
        description: change.description,
        keywords: change.keywords,
        fields: change.fields ?? undefined,
      }),
  }),
}));

// Prints the GraphQL schema to apps/gateway/schema.graphql so every API change shows in review.
import { writeFileSync } from "node:fs";
import { lexicographicSortSchema, printSchema } from "graphql";
import { toSchema } from "../src/schema/index.ts";

const out = new URL("../schema.graphql", import.meta.url);
writeFileSync(out, `${printSchema(lexicographicSortSchema(toSchema()))}\n`);

import { builder } from "../builder.ts";
import "./batch.ts";
import "./category.ts";
import "./document.ts";
import "./operations.ts";
import "./progress.ts";
import "./search.ts";
import "./upload.ts";

export function toSchema() {
  return builder.toSchema({ sortSchema: false });
}

export { DEFAULT_CATEGORIES } from "./adapters/models/builtin/categories.ts";

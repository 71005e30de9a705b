export type { default as PrismaTypes } from "./generated/pothos-types.ts";
export { getDatamodel } from "./generated/pothos-types.ts";
export * from "./generated/prisma/client.ts";
export type { Migration, SqlExecutor } from "./migrate.ts";
export {
  loadMigrations,
  MigrationError,
  migrate,
  migrationsDir,
  SCHEMA_LOCK_ID,
  SCHEMA_LOCK_SQL,
} from "./migrate.ts";

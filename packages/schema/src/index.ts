export * from "./generated/prisma/client.ts";
export { getDatamodel } from "./generated/pothos-types.ts";
export type { default as PrismaTypes } from "./generated/pothos-types.ts";
export { loadMigrations, migrate, MigrationError, migrationsDir } from "./migrate.ts";
export type { Migration, SqlExecutor } from "./migrate.ts";

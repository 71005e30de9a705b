import { defineConfig } from "prisma/config";

// Only `prisma generate` is used: migrations are our own SQL (see migrations/ and src/migrate.ts).
export default defineConfig({
  schema: "prisma/schema.prisma",
});

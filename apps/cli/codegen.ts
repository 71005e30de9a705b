// Types the CLI's GraphQL operations (the graphql() tags in src) from the gateway's printed schema.
// Fails when an operation no longer matches the schema: `generate` runs before typecheck and tests.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../gateway/schema.graphql",
  documents: ["src/**/*.ts", "!src/generated/**", "!src/**/*.test.ts"],
  ignoreNoDocuments: false,
  generates: {
    "src/generated/": {
      preset: "client",
      // Plain result types: a fragment's fields are part of the result, not hidden behind useFragment.
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        importExtension: ".ts",
        strictScalars: true,
        scalars: { DateTime: "string", JSON: "unknown" },
      },
    },
  },
};

export default config;

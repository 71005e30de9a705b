import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { generate } from "@graphql-codegen/cli";
import { buildSchema, type DocumentNode, Kind, type OperationDefinitionNode, validate, visit } from "graphql";
import { describe, expect, it } from "vitest";
import config from "../codegen.ts";
import * as generated from "./generated/graphql.ts";

// The CLI's operations are checked against the gateway's printed schema twice: `generate` (codegen)
// refuses to type an operation that does not match, and these tests validate what it generated.

const cliDir = fileURLToPath(new URL("..", import.meta.url));
const schema = buildSchema(readFileSync(new URL("../../gateway/schema.graphql", import.meta.url), "utf8"));

const documents = Object.entries(generated).filter(
  (e): e is [string, DocumentNode] => (e[1] as Partial<DocumentNode> | null)?.kind === Kind.DOCUMENT,
);
const operations = documents.filter(([, d]) =>
  d.definitions.some((x) => x.kind === Kind.OPERATION_DEFINITION),
);

/** `doc` with a field the schema does not have, added to the selection of its first field. */
function withBogusField(doc: DocumentNode): DocumentNode {
  let added = false;
  return visit(doc, {
    Field(node) {
      if (added || !node.selectionSet) return undefined;
      added = true;
      return {
        ...node,
        selectionSet: {
          ...node.selectionSet,
          selections: [
            ...node.selectionSet.selections,
            { kind: Kind.FIELD, name: { kind: Kind.NAME, value: "bogus" } },
          ],
        },
      };
    },
  });
}

describe("the CLI's GraphQL operations", () => {
  // Each as sent, with the fragments it spreads (a fragment alone would fail NoUnusedFragments).
  it("all validate against apps/gateway/schema.graphql", () => {
    expect(operations.length).toBeGreaterThanOrEqual(10);
    for (const [name, doc] of operations)
      expect({ name, errors: validate(schema, doc).map(String) }).toEqual({ name, errors: [] });
  });

  it("carry the fragments they spread (the gateway gets them with the operation)", () => {
    const names = generated.BatchProgressDocument.definitions.map(
      (d) => (d as OperationDefinitionNode).name?.value,
    );
    expect(names).toEqual(["BatchProgress", "BatchCountsFields"]);
  });

  it("fail validation once one no longer matches the schema", () => {
    const broken = withBogusField(generated.RequestUploadsDocument);
    expect(validate(schema, broken).map((e) => e.message)).toEqual([
      'Cannot query field "bogus" on type "UploadResult".',
    ]);
  });

  it("make generate (codegen) fail when one no longer matches, and pass as they are", async () => {
    const run = (documents: string[]) => generate({ ...config, documents, cwd: cliDir, silent: true }, false);
    const own = config.documents as string[];
    await expect(run(own)).resolves.toContainEqual(
      expect.objectContaining({ filename: "src/generated/graphql.ts" }),
    );
    await expect(
      run([...own, "query Stale($id: ID!) { batch(id: $id) { counts { total bogus } } }"]),
    ).rejects.toThrow(/Cannot query field "bogus" on type "BatchCounts"/);
  }, 60_000);
});

import { randomBytes } from "node:crypto";
import { OpenSearchSearchIndex } from "@docfleet/pipeline/adapters/search/opensearch";
import { describe, it } from "vitest";
import { searchContract } from "./contracts/search.contract.ts";

// The OpenSearch adapter against a real cluster: runs only when OPENSEARCH_URL is set (no OpenSearch
// can run on the development machines; the adapter's request bodies are pinned by its unit tests).
// Each run gets its own index prefix, and drops everything it created.
const url = process.env.OPENSEARCH_URL;

if (url) {
  for (const hybrid of ["pipeline", "client"] as const) {
    searchContract(`opensearch (${hybrid} hybrid fusion)`, async () => {
      const dimensions = 16;
      const search = new OpenSearchSearchIndex({
        node: url,
        username: process.env.OPENSEARCH_USERNAME,
        password: process.env.OPENSEARCH_PASSWORD,
        prefix: `docfleet-test-${randomBytes(6).toString("hex")}`,
        dimensions,
        hybrid,
        refresh: "wait_for",
        replicas: 0,
      });
      return {
        search,
        dimensions,
        close: async () => {
          try {
            await search.drop();
          } finally {
            await search.close();
          }
        },
      };
    });
  }
} else {
  describe.skip("OPENSEARCH_URL is not set: the OpenSearch conformance suite did not run", () => {
    it("search contract: opensearch", () => {});
  });
}

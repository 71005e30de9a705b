import {
  CategoryError,
  DependencyUnavailableError,
  DocumentError,
  FailureCode,
  RequestError,
} from "@docfleet/pipeline";
import { GraphQLError, locatedError, parse } from "graphql";
import { createSchema, createYoga } from "graphql-yoga";
import { describe, expect, it } from "vitest";
import { isExpectedError, maskError } from "./mask-error.ts";

const MESSAGE = "Unexpected error.";
const field = parse("{ a }").definitions[0]!;
/** What graphql-js makes of a value thrown by the resolver of `a`. */
const thrownBy = (err: unknown) => locatedError(err, [field], ["a"]);

describe("maskError", () => {
  it("keeps a RequestError's message and gives it its code", () => {
    const masked = maskError(new RequestError("NOT_FOUND", "batch b1 not found"), MESSAGE) as GraphQLError;
    expect(masked).toBeInstanceOf(GraphQLError);
    expect(masked.message).toBe("batch b1 not found");
    expect(masked.extensions).toEqual({ code: "NOT_FOUND" });
  });

  it("unwraps what a resolver threw, keeping its path", () => {
    const masked = maskError(
      thrownBy(new RequestError("CONFLICT", "already uploaded")),
      MESSAGE,
    ) as GraphQLError;
    expect(masked.toJSON()).toEqual({
      message: "already uploaded",
      path: ["a"],
      locations: [{ line: 1, column: 1 }],
      extensions: { code: "CONFLICT" },
    });
    // Wrapped twice (a rethrown located error) unwraps too.
    const twice = maskError(
      thrownBy(thrownBy(new CategoryError("BAD_REQUEST", "bad name"))),
      MESSAGE,
    ) as GraphQLError;
    expect([twice.message, twice.extensions.code]).toEqual(["bad name", "BAD_REQUEST"]);
  });

  it("codes a DocumentError by its failure code, but masks INTERNAL", () => {
    const named = maskError(thrownBy(new DocumentError(FailureCode.INVALID_NAME, "name has '..'")), MESSAGE);
    expect((named as GraphQLError).extensions).toEqual({ code: "INVALID_NAME" });
    const internal = maskError(new DocumentError(FailureCode.INTERNAL, "disk at /var/x full"), MESSAGE);
    expect(internal.message).toBe(MESSAGE);
  });

  it("masks an unknown error: no message, stack or cause of it goes out", () => {
    const err = new Error("connect ECONNREFUSED 10.1.2.3:5432 password=hunter2", { cause: "x" });
    for (const e of [err, thrownBy(err), "a string", { not: "an error" }]) {
      const masked = maskError(e, MESSAGE) as GraphQLError;
      expect(masked).toBeInstanceOf(GraphQLError);
      expect(masked.message).toBe(MESSAGE);
      expect(masked.extensions.code).toBe("INTERNAL_SERVER_ERROR");
      expect(masked.originalError).toBeUndefined();
      expect(JSON.stringify(masked.toJSON())).not.toMatch(/hunter2|ECONNREFUSED/);
    }
    expect((maskError(thrownBy(err), MESSAGE) as GraphQLError).path).toEqual(["a"]);
  });

  it("passes a GraphQLError that carries a code, as it is, even wrapped", () => {
    const forbidden = new GraphQLError("search needs the read scope", {
      extensions: { code: "FORBIDDEN", http: { status: 403 } },
    });
    expect(maskError(forbidden, MESSAGE)).toBe(forbidden);
    const wrapped = thrownBy(forbidden);
    expect(maskError(wrapped, MESSAGE)).toBe(wrapped);
    expect((maskError(wrapped, MESSAGE) as GraphQLError).extensions.code).toBe("FORBIDDEN");
  });

  it("answers an outage of a dependency SERVICE_UNAVAILABLE (503, Retry-After), not an internal error", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9000"), { code: "ECONNREFUSED" });
    const masked = maskError(
      thrownBy(new DependencyUnavailableError("store", refused)),
      MESSAGE,
    ) as GraphQLError;
    expect(masked.message).toBe("the store is unavailable for the moment: retry shortly");
    expect(masked.extensions).toEqual({
      code: "SERVICE_UNAVAILABLE",
      retryAfterMs: 5000,
      http: { status: 503, headers: { "retry-after": "5" } },
    });
    expect(masked.message).not.toMatch(/ECONNREFUSED|9000/);
  });

  it("tells yoga's logger which replaced errors were expected", () => {
    expect(isExpectedError(thrownBy(new RequestError("BAD_REQUEST", "x")))).toBe(true);
    expect(isExpectedError(new CategoryError("NOT_FOUND", "x"))).toBe(true);
    expect(isExpectedError(thrownBy(new Error("boom")))).toBe(false);
    expect(isExpectedError(new DocumentError(FailureCode.INTERNAL, "x"))).toBe(false);
  });
});

describe("maskError in yoga", () => {
  const yoga = createYoga({
    schema: createSchema({
      typeDefs: "type Query { missing: String, broken: String, refused: String }",
      resolvers: {
        Query: {
          missing: async () => {
            throw new RequestError("NOT_FOUND", "document d1 not found");
          },
          broken: () => {
            throw new Error("secret internals");
          },
          refused: () => {
            throw new GraphQLError("no", { extensions: { code: "FORBIDDEN" } });
          },
        },
      },
    }),
    maskedErrors: { maskError },
    logging: false,
  });
  const run = async (query: string) => {
    const res = await yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query }),
    });
    return (await res.json()) as { errors: { message: string; path: string[]; extensions: unknown }[] };
  };

  it("answers each kind of error as its own, over HTTP", async () => {
    const { errors } = await run("{ missing broken refused }");
    const byPath = Object.fromEntries(errors.map((e) => [e.path[0], e]));
    expect(byPath.missing).toMatchObject({
      message: "document d1 not found",
      extensions: { code: "NOT_FOUND" },
    });
    expect(byPath.broken).toMatchObject({
      message: "Unexpected error.",
      extensions: { code: "INTERNAL_SERVER_ERROR" },
    });
    expect(byPath.refused).toMatchObject({ message: "no", extensions: { code: "FORBIDDEN" } });
    expect(JSON.stringify(errors)).not.toMatch(/secret internals|unexpected/);
  });
});

import { readFileSync } from "node:fs";
import {
  buildSchema,
  type GraphQLNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isIntrospectionType,
  isObjectType,
  isSpecifiedScalarType,
  lexicographicSortSchema,
  printSchema,
} from "graphql";
import { describe, expect, it } from "vitest";
import { toSchema } from "./index.ts";

// Every type, field, argument, input field and enum value of the API says what it is (issue 18): a
// client reads the schema in GraphiQL or its codegen output, not our source.

/** Everything in `sdl` that has no description, as `Type`, `Type.field`, `Type.field(arg)`, `Enum.VALUE`. */
export function undescribed(sdl: string): string[] {
  const schema = buildSchema(sdl);
  const missing: string[] = [];
  const need = (what: string, description: string | null | undefined) => {
    if (!description?.trim()) missing.push(what);
  };
  for (const type of Object.values(schema.getTypeMap()) as GraphQLNamedType[]) {
    if (isIntrospectionType(type) || isSpecifiedScalarType(type)) continue;
    // The root types are named by the spec; their fields carry the descriptions.
    if (
      [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].includes(type as never)
    )
      need(type.name, type.description ?? "root");
    else need(type.name, type.description);
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) {
        need(`${type.name}.${field.name}`, field.description);
        for (const arg of field.args) need(`${type.name}.${field.name}(${arg.name})`, arg.description);
      }
    } else if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields()))
        need(`${type.name}.${field.name}`, field.description);
    } else if (isEnumType(type)) {
      for (const value of type.getValues()) need(`${type.name}.${value.name}`, value.description);
    }
  }
  return missing;
}

const printed = () => `${printSchema(lexicographicSortSchema(toSchema()))}\n`;

describe("schema descriptions", () => {
  it("describe every type, field, argument, input field and enum value", () => {
    expect(undescribed(printed())).toEqual([]);
  });

  it("are in the committed schema.graphql (npm run generate after a schema change)", () => {
    const committed = readFileSync(new URL("../../schema.graphql", import.meta.url), "utf8");
    expect(committed).toBe(printed());
  });

  it("the check fails on a missing one", () => {
    const sdl = `
      "A root" type Query { "described" a(x: Int): T b: Int }
      "T" type T { "y" y: E }
      enum E { "one" ONE TWO }
      input I { "f" f: Int g: Int }
      type Mutation { "m" m(i: I): Int }`;
    expect(undescribed(sdl).sort()).toEqual(
      ["E", "E.TWO", "I", "I.g", "Mutation.m(i)", "Query.a(x)", "Query.b"].sort(),
    );
  });
});

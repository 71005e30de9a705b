import {
  GraphQLInputObjectType,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  parse,
} from "graphql";
import { describe, expect, it } from "vitest";
import { findNul, PER_ITEM_TEXT } from "./use-storable-text.ts";

const File = new GraphQLInputObjectType({
  name: "File",
  fields: {
    name: { type: new GraphQLNonNull(GraphQLString), extensions: { [PER_ITEM_TEXT]: true } },
    note: { type: GraphQLString },
  },
});
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: "Query",
    fields: {
      put: {
        type: GraphQLString,
        args: { files: { type: new GraphQLList(File) }, q: { type: GraphQLString } },
      },
    },
  }),
});

describe("findNul", () => {
  it("leaves a per-item field to its service, in literals and variables, and finds a NUL anywhere else", () => {
    const literal = (files: string) => findNul(schema, parse(`{ put(files: ${files}) }`), {});
    expect(literal('[{ name: "a\\u0000b" }]')).toBeUndefined();
    expect(literal('[{ name: "a", note: "x\\u0000" }]')).toMatch(/string literal/);
    const doc = parse("query($f: [File], $q: String) { put(files: $f, q: $q) }");
    expect(findNul(schema, doc, { f: [{ name: "a\u0000" }] })).toBeUndefined();
    expect(findNul(schema, doc, { f: [{ name: "a", note: "\u0000" }] })).toBe("variable $f[0].note");
    expect(findNul(schema, doc, { q: "\u0000" })).toBe("variable $q");
  });
});

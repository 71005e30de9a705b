import { type DocumentNode, GraphQLError, visit } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Context } from "./builder.ts";

// PostgreSQL's text cannot hold a NUL character (U+0000): sent on, it fails the statement that binds
// it ("invalid byte sequence"), a masked internal error at best, and in a search it once failed one
// sub-query while its sibling ran on (issue 15). Every text a client sends enters here, as a literal
// or a variable, so it is refused here, once, for every field: BAD_REQUEST naming where it was.

const NUL = "\u0000";

/**
 * File names in requestUploads are judged one by one: a name with a NUL (a control character) fails
 * its own file INVALID_NAME while the batch's other files go on (one bad file never fails its batch).
 */
const PER_ITEM_FIELD = "requestUploads";
const perItemName = /\[\d+\]\.name$/;

/** Where the first NUL is in the operation's literals or variables (a path), or undefined. */
export function findNul(
  document: DocumentNode,
  variables: Record<string, unknown> | null | undefined,
): string | undefined {
  let found: string | undefined;
  let perItem = false;
  visit(document, {
    Field(node) {
      if (node.name.value === PER_ITEM_FIELD) perItem = true;
    },
  });
  visit(document, {
    StringValue(node, _key, parent, _path, ancestors) {
      if (found || !node.value.includes(NUL)) return;
      const field = parent && !Array.isArray(parent) && (parent as { kind?: string }).kind === "ObjectField";
      const named = field && (parent as { name: { value: string } }).name.value === "name";
      const inUploads = ancestors.some(
        (a) =>
          !Array.isArray(a) &&
          (a as { kind?: string; name?: { value: string } }).kind === "Field" &&
          (a as { name: { value: string } }).name.value === PER_ITEM_FIELD,
      );
      if (named && inUploads) return;
      found = `a string literal at offset ${node.loc?.start ?? "?"}`;
    },
  });
  if (found) return found;
  const walk = (v: unknown, path: string): string | undefined => {
    if (typeof v === "string")
      return v.includes(NUL) && !(perItem && perItemName.test(path)) ? path : undefined;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const at = walk(v[i], `${path}[${i}]`);
        if (at) return at;
      }
    } else if (v && typeof v === "object") {
      for (const [k, item] of Object.entries(v)) {
        const at = walk(item, `${path}.${k}`);
        if (at) return at;
      }
    }
    return undefined;
  };
  for (const [name, value] of Object.entries(variables ?? {})) {
    const at = walk(value, `$${name}`);
    if (at) return `variable ${at}`;
  }
  return undefined;
}

/** Refuses an operation with a NUL character in any text it carries, before any resolver runs. */
export function useStorableText(): Plugin<Context> {
  const check = ({
    args,
    setResultAndStopExecution,
  }: {
    args: { document: DocumentNode; variableValues?: Record<string, unknown> | null };
    setResultAndStopExecution: (result: { errors: GraphQLError[] }) => void;
  }) => {
    const at = findNul(args.document, args.variableValues);
    if (at)
      setResultAndStopExecution({
        errors: [
          new GraphQLError(`${at} contains a NUL character (U+0000), which text cannot hold`, {
            extensions: { code: "BAD_REQUEST", http: { status: 400 } },
          }),
        ],
      });
  };
  return { onExecute: check, onSubscribe: check } as Plugin<Context>;
}

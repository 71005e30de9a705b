import {
  type DocumentNode,
  GraphQLError,
  type GraphQLInputType,
  type GraphQLSchema,
  getNamedType,
  isInputObjectType,
  isListType,
  isNonNullType,
  TypeInfo,
  typeFromAST,
  visit,
  visitWithTypeInfo,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Context } from "./builder.ts";

// PostgreSQL's text cannot hold a NUL character (U+0000): sent on, it fails the statement that binds
// it ("invalid byte sequence"), a masked internal error at best, and in a search it once failed one
// sub-query while its sibling ran on (issue 15). Every text a client sends enters here, as a literal
// or a variable, so it is refused here, once, for every field: BAD_REQUEST naming where it was.

const NUL = "\u0000";

/**
 * Extension on an input field whose text the service judges item by item (a file name in
 * requestUploads fails its own file INVALID_NAME, NUL included, while the others go on): the NUL check
 * leaves such a field to it, wherever the input type is used.
 */
export const PER_ITEM_TEXT = "perItemText";

type InputFieldOf = { extensions?: Record<string, unknown> | null };
const perItem = (field: InputFieldOf | null | undefined) => field?.extensions?.[PER_ITEM_TEXT] === true;

/** Where the first NUL is in the operation's literals or variables (a path), or undefined. */
export function findNul(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown> | null | undefined,
): string | undefined {
  let found: string | undefined;
  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      StringValue(node, _key, parent) {
        if (found || !node.value.includes(NUL)) return;
        const fieldName =
          parent && !Array.isArray(parent) && (parent as { kind?: string }).kind === "ObjectField"
            ? (parent as { name: { value: string } }).name.value
            : undefined;
        const owner = typeInfo.getParentInputType();
        const named = owner ? getNamedType(owner) : undefined;
        if (fieldName && named && isInputObjectType(named) && perItem(named.getFields()[fieldName])) return;
        found = `a string literal at offset ${node.loc?.start ?? "?"}`;
      },
    }),
  );
  if (found) return found;
  const walk = (v: unknown, type: GraphQLInputType | undefined, path: string): string | undefined => {
    const t = type && isNonNullType(type) ? type.ofType : type;
    if (typeof v === "string") return v.includes(NUL) ? path : undefined;
    if (Array.isArray(v)) {
      const item = t && isListType(t) ? t.ofType : t;
      for (let i = 0; i < v.length; i++) {
        const at = walk(v[i], item, `${path}[${i}]`);
        if (at) return at;
      }
    } else if (v && typeof v === "object") {
      const fields = t && isInputObjectType(t) ? t.getFields() : undefined;
      for (const [k, item] of Object.entries(v)) {
        if (perItem(fields?.[k])) continue;
        const at = walk(item, fields?.[k]?.type, `${path}.${k}`);
        if (at) return at;
      }
    }
    return undefined;
  };
  const types = new Map<string, GraphQLInputType | undefined>();
  for (const op of document.definitions) {
    if (op.kind !== "OperationDefinition") continue;
    for (const d of op.variableDefinitions ?? []) {
      types.set(d.variable.name.value, typeFromAST(schema, d.type as never) as GraphQLInputType | undefined);
    }
  }
  for (const [name, value] of Object.entries(variables ?? {})) {
    const at = walk(value, types.get(name), `$${name}`);
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
    args: { schema: GraphQLSchema; document: DocumentNode; variableValues?: Record<string, unknown> | null };
    setResultAndStopExecution: (result: { errors: GraphQLError[] }) => void;
  }) => {
    const at = findNul(args.schema, args.document, args.variableValues);
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

import type { Metrics, Tracing } from "@docfleet/pipeline";
import { getOperationAST } from "graphql";
import type { Plugin } from "graphql-yoga";

/**
 * A span and a duration sample per GraphQL operation. Over HTTP and SSE the span's parent is the
 * request's span (started by the gateway's request handler, continuing any incoming `traceparent`);
 * over graphql-ws each operation starts a trace of its own. Resolvers run inside it, so the outbox rows
 * they write carry its trace context to the workers.
 */
export function useObservability(tracing?: Tracing, metrics?: Metrics): Plugin {
  const operationOf = (args: { document: unknown; operationName?: string | null }) =>
    getOperationAST(args.document as never, args.operationName)?.operation ?? "unknown";
  const nameOf = (args: { document: unknown; operationName?: string | null }) =>
    args.operationName ?? getOperationAST(args.document as never, args.operationName)?.name?.value;
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const operation = operationOf(args);
      const end = metrics?.graphqlDuration.startTimer({ operation });
      if (tracing) {
        const name = nameOf(args);
        setExecuteFn((a) =>
          tracing.span(
            `graphql.${operation}${name ? ` ${name}` : ""}`,
            { "graphql.operation.type": operation, "graphql.operation.name": name },
            async () => executeFn(a),
          ),
        );
      }
      return { onExecuteDone: () => void end?.() };
    },
    onSubscribe({ args }) {
      // Subscriptions live for minutes: only their setup is timed.
      const end = metrics?.graphqlDuration.startTimer({ operation: operationOf(args) });
      return { onSubscribeResult: () => void end?.() };
    },
  };
}

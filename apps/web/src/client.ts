import { createClient as createWsClient, type Client as WsClient } from "graphql-ws";
import { Client, fetchExchange, stringifyDocument, subscriptionExchange, type TypedDocumentNode } from "urql";
import type { Session } from "./auth.ts";

/** What the pages talk to: urql for queries and mutations, graphql-ws for live progress. */
export interface Api {
  session: Session;
  urql: Client;
  ws: WsClient;
  /** Subscribes with a typed document; answers the unsubscribe function. */
  subscribe<R, V extends Record<string, unknown>>(
    doc: TypedDocumentNode<R, V>,
    variables: V,
    sink: { next(r: R): void; error(e: unknown): void; complete(): void },
  ): () => void;
  close(): void;
}

export function createApi(session: Session): Api {
  const authorization = `Bearer ${session.key}`;
  const wsUrl = `${session.server.replace(/^http/, "ws")}/graphql`;
  const ws = createWsClient({
    url: wsUrl,
    connectionParams: { authorization },
    lazy: true,
    // Reconnects after a dropped socket; the batch view resumes from its cursor (`after`).
    retryAttempts: 1_000_000,
    shouldRetry: () => true,
    retryWait: async (n) => new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** n) * Math.random())),
  });
  const urql = new Client({
    url: `${session.server}/graphql`,
    requestPolicy: "cache-and-network",
    // POST with a JSON body: the gateway refuses header-less GETs (CSRF prevention).
    preferGetMethod: false,
    fetchOptions: () => ({ headers: { authorization }, credentials: "omit" }),
    exchanges: [
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({
            unsubscribe: ws.subscribe({ ...request, query: request.query ?? "" }, sink),
          }),
        }),
      }),
    ],
  });
  return {
    session,
    urql,
    ws,
    subscribe<R, V extends Record<string, unknown>>(
      doc: TypedDocumentNode<R, V>,
      variables: V,
      sink: { next(r: R): void; error(e: unknown): void; complete(): void },
    ) {
      return ws.subscribe<R>(
        { query: stringifyDocument(doc), variables },
        {
          next: (r) => {
            if (r.errors?.length) sink.error(new Error(r.errors.map((e) => e.message).join("; ")));
            else if (r.data) sink.next(r.data as R);
          },
          error: sink.error,
          complete: sink.complete,
        },
      );
    },
    close() {
      void ws.dispose();
    },
  };
}

/** A GraphQL answer's error as one line, with its code when the server gave one. */
export function errorText(err: unknown): string {
  const e = err as {
    graphQLErrors?: { message: string; extensions?: { code?: string } }[];
    message?: string;
  };
  if (e?.graphQLErrors?.length)
    return e.graphQLErrors
      .map((g) => (g.extensions?.code ? `${g.extensions.code}: ${g.message}` : g.message))
      .join("; ");
  return String(e?.message ?? err).replace(/^\[(Network|GraphQL)\] /, "");
}

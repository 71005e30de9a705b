import { CliError, ExitCode } from "./exit-codes.ts";

/** A minimal GraphQL-over-HTTP client for the gateway. */
export class GatewayClient {
  constructor(
    readonly endpoint: string,
    private readonly apiKey?: string,
  ) {}

  async request<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.endpoint.replace(/\/$/, "")}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/graphql-response+json, application/json",
          ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
    } catch (err) {
      throw new CliError(
        `cannot reach the gateway at ${this.endpoint}: ${(err as Error).cause ?? (err as Error).message}`,
        ExitCode.UNREACHABLE,
      );
    }
    const text = await res.text();
    let body: { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
    try {
      body = JSON.parse(text);
    } catch {
      throw new CliError(
        `the gateway answered ${res.status} with a body that is not JSON`,
        ExitCode.UNREACHABLE,
      );
    }
    if (body.errors?.length) {
      const e = body.errors[0]!;
      const code = e.extensions?.code;
      throw new CliError(
        `${code ? `${code}: ` : ""}${e.message}`,
        code === "UNAUTHENTICATED" || code === "FORBIDDEN"
          ? ExitCode.UNREACHABLE
          : code === "BAD_REQUEST" || code === "NOT_FOUND"
            ? ExitCode.USAGE
            : ExitCode.INTERNAL,
      );
    }
    if (!body.data) throw new CliError(`the gateway answered ${res.status} without data`, ExitCode.INTERNAL);
    return body.data;
  }
}

/**
 * Sends one webhook request: a POST of `body` with `headers`, answered by the HTTP status. Redirects are
 * answers, never followed. Throws on a network error, on `timeoutMs` (an error named `TimeoutError`), and
 * on a target refused by policy (an error named `WebhookTargetRefused` saying which address and why).
 */
export type WebhookTransport = (
  url: string,
  req: { body: string; headers: Record<string, string>; timeoutMs: number },
) => Promise<{ status: number }>;

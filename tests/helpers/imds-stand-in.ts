import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** The credentials an instance role's session hands out. */
export interface RoleCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

export interface ImdsStandIn {
  /** The endpoint (AWS_EC2_METADATA_SERVICE_ENDPOINT), e.g. http://127.0.0.1:41234. */
  url: string;
  /** Every request, as "METHOD path status". */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A STAND-IN for the EC2 instance metadata service, for tests only: the IMDSv2 credential exchange as
 * AWS documents it, nothing else.
 *
 * - `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds` (1..21600) answers a session
 *   token; no TTL or one out of range: 400; a request carrying X-Forwarded-For: 403.
 * - `GET /latest/meta-data/iam/security-credentials/` answers the role's name, and
 *   `GET /latest/meta-data/iam/security-credentials/<role>` its credentials as JSON (Code, Type,
 *   AccessKeyId, SecretAccessKey, Token, Expiration, LastUpdated), both only with a live token in
 *   `X-aws-ec2-metadata-token`: without one 401 (IMDSv1 is off, as `http_tokens = "required"` makes
 *   it), with an unknown or expired one 401.
 * - Anything else, another role's name included, 404. Paths are taken literally (no `//` folding).
 *
 * `credentials` is asked on every credentials GET, as IMDS serves the role's current keys.
 */
export async function startImdsStandIn(opts: {
  role: string;
  credentials: () => Promise<RoleCredentials>;
}): Promise<ImdsStandIn> {
  const tokens = new Map<string, number>(); // token -> expiry (ms)
  const requests: string[] = [];
  const prefix = "/latest/meta-data/iam/security-credentials/";
  const server = createServer(async (req, res) => {
    const path = req.url ?? "/";
    const answer = (status: number, body = "", type = "text/plain") => {
      requests.push(`${req.method} ${path} ${status}`);
      res.writeHead(status, { "content-type": type }).end(body);
    };
    try {
      if (req.headers["x-forwarded-for"] !== undefined) return answer(403);
      if (path === "/latest/api/token") {
        if (req.method !== "PUT") return answer(405);
        const ttl = Number(req.headers["x-aws-ec2-metadata-token-ttl-seconds"]);
        if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return answer(400);
        const token = randomBytes(24).toString("base64url");
        tokens.set(token, Date.now() + ttl * 1000);
        return answer(200, token);
      }
      if (req.method !== "GET" || !path.startsWith(prefix)) return answer(404);
      const token = req.headers["x-aws-ec2-metadata-token"];
      const expiry = typeof token === "string" ? tokens.get(token) : undefined;
      if (expiry === undefined || expiry < Date.now()) return answer(401);
      const rest = path.slice(prefix.length);
      if (rest === "") return answer(200, opts.role);
      if (rest !== opts.role) return answer(404);
      const c = await opts.credentials();
      return answer(
        200,
        JSON.stringify({
          Code: "Success",
          LastUpdated: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
          Type: "AWS-HMAC",
          AccessKeyId: c.accessKeyId,
          SecretAccessKey: c.secretAccessKey,
          Token: c.sessionToken,
          Expiration: c.expiration.toISOString().replace(/\.\d+Z$/, "Z"),
        }),
        "application/json",
      );
    } catch (err) {
      answer(500, String(err));
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

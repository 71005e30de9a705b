import { readFile } from "node:fs/promises";
// minio 8 exports these two only under dist/esm (its exports map allows it); the client takes any
// CredentialProvider as `credentialsProvider` and asks it before every request and every signature.
import { CredentialProvider } from "minio/dist/esm/CredentialProvider.mjs";
import { Credentials } from "minio/dist/esm/Credentials.mjs";

/**
 * Where the S3 adapter looks for credentials when it is given no static keys, in the order of the AWS
 * SDKs' default chain; the first source that has credentials is used for the life of the process.
 */
export interface S3CredentialChainOptions {
  /** AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, as read at start-up. */
  env?: { accessKeyId?: string; secretAccessKey?: string; sessionToken?: string };
  /** The shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials). */
  sharedCredentialsFile?: string;
  /** The file's profile (AWS_PROFILE, default "default"). */
  profile?: string;
  /** The instance metadata service (IMDSv2) that hands out the instance role's credentials. */
  imds?: {
    /** AWS_EC2_METADATA_SERVICE_ENDPOINT, default http://169.254.169.254. */
    endpoint?: string;
    /** AWS_EC2_METADATA_DISABLED: never ask it (off EC2, where asking only costs a timeout). */
    disabled?: boolean;
    /** Per request; the AWS SDKs use 1 s. */
    timeoutMs?: number;
  };
}

/** No source in the chain had credentials; the message lists what was tried and why each failed. */
export class S3CredentialsError extends Error {
  override name = "S3CredentialsError";
}

/**
 * Static credentials or the chain: environment, shared credentials file, instance role (IMDSv2).
 *
 * minio 8 ships no environment or file provider, and its IamAwsProvider's IMDSv2 path asks for
 * `security-credentials//<role>` (two slashes), reads an error page as a token (no status check), has
 * no timeout (off EC2 a start-up would hang on 169.254.169.254) and renews only 10 s before expiry,
 * which shortens every URL signed in the last minutes of a session. Hence this provider, plugged into
 * minio's client through its CredentialProvider interface.
 */
export class S3CredentialChain extends CredentialProvider {
  private source: "env" | "file" | "imds" | undefined;
  private current: { credentials: Credentials; expiresAt: number | null } | undefined;
  private pending: Promise<Credentials> | undefined;

  constructor(private readonly opts: S3CredentialChainOptions = {}) {
    super({ accessKey: "", secretKey: "" });
  }

  /** Which source answered; undefined before the first request. */
  get resolvedSource(): "env" | "file" | "imds" | undefined {
    return this.source;
  }

  override async getCredentials(): Promise<Credentials> {
    const c = this.current;
    // Renewed 5 minutes before expiry: IMDS hands out the next credentials at least that early, and a
    // URL signed now works only as long as the session it was signed with.
    if (c && (c.expiresAt === null || c.expiresAt - Date.now() > 5 * 60_000)) return c.credentials;
    this.pending ??= this.refresh().finally(() => {
      this.pending = undefined;
    });
    try {
      return await this.pending;
    } catch (err) {
      // IMDS down for a moment: credentials that have not expired yet still sign.
      if (c && c.expiresAt !== null && c.expiresAt > Date.now() + 10_000) return c.credentials;
      throw err;
    }
  }

  private async refresh(): Promise<Credentials> {
    const tried: string[] = [];
    if (this.source === undefined || this.source === "env") {
      const e = this.opts.env ?? {};
      if (e.accessKeyId && e.secretAccessKey) {
        return this.keep("env", creds(e.accessKeyId, e.secretAccessKey, e.sessionToken), null);
      }
      tried.push("environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set");
    }
    if (this.source === undefined || this.source === "file") {
      const file = this.opts.sharedCredentialsFile;
      const profile = this.opts.profile || "default";
      const found = file ? await readProfile(file, profile).catch((err: Error) => err) : null;
      if (found && !(found instanceof Error)) return this.keep("file", found, null);
      tried.push(
        `shared credentials file: ${
          !file
            ? "none configured"
            : found instanceof Error
              ? found.message
              : `${file} has no aws_access_key_id and aws_secret_access_key in [${profile}]`
        }`,
      );
    }
    const imds = this.opts.imds ?? {};
    if (!imds.disabled) {
      try {
        const r = await imdsCredentials(imds.endpoint || "http://169.254.169.254", imds.timeoutMs ?? 1000);
        return this.keep("imds", r.credentials, r.expiresAt);
      } catch (err) {
        tried.push(
          `instance role (IMDSv2 at ${imds.endpoint || "http://169.254.169.254"}): ${(err as Error).message}`,
        );
      }
    } else tried.push("instance role: AWS_EC2_METADATA_DISABLED");
    throw new S3CredentialsError(
      `no S3 credentials: set S3_ACCESS_KEY and S3_SECRET_KEY, or provide them through the chain:\n  ${tried.join("\n  ")}`,
    );
  }

  private keep(source: "env" | "file" | "imds", credentials: Credentials, expiresAt: number | null) {
    this.source = source;
    this.current = { credentials, expiresAt };
    return credentials;
  }
}

function creds(accessKey: string, secretKey: string, sessionToken?: string): Credentials {
  return new Credentials({ accessKey, secretKey, ...(sessionToken ? { sessionToken } : {}) });
}

/** A profile of an AWS shared credentials file (INI: `[name]`, `key = value`, `#`/`;` comments). */
async function readProfile(file: string, profile: string): Promise<Credentials | null> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`${file} does not exist`);
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  let section: string | null = null;
  const values = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const head = /^\[\s*([^\]]+?)\s*\]$/.exec(line);
    if (head) {
      section = head[1]!;
      continue;
    }
    const kv = /^([A-Za-z0-9_]+)\s*=\s*(.*)$/.exec(line);
    if (kv && section === profile) values.set(kv[1]!.toLowerCase(), kv[2]!.trim());
  }
  const id = values.get("aws_access_key_id");
  const secret = values.get("aws_secret_access_key");
  return id && secret ? creds(id, secret, values.get("aws_session_token")) : null;
}

/**
 * The instance role's credentials as AWS documents IMDSv2: PUT /latest/api/token (with the token's
 * TTL), then GET /latest/meta-data/iam/security-credentials/ (the role's name) and GET …/<role> (the
 * credentials), both with the token. Any status but 200 is an error.
 */
async function imdsCredentials(
  endpoint: string,
  timeoutMs: number,
): Promise<{ credentials: Credentials; expiresAt: number }> {
  const base = endpoint.replace(/\/+$/, "");
  const call = async (method: "PUT" | "GET", path: string, headers: Record<string, string>) => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, { method, headers, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      throw new Error(`${method} ${path}: ${cause ?? (err as Error).message}`);
    }
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${method} ${path} answered ${res.status}`);
    return body;
  };
  const token = await call("PUT", "/latest/api/token", { "x-aws-ec2-metadata-token-ttl-seconds": "21600" });
  const auth = { "x-aws-ec2-metadata-token": token };
  const role = (await call("GET", "/latest/meta-data/iam/security-credentials/", auth))
    .split("\n")[0]
    ?.trim();
  if (!role) throw new Error("the instance has no role");
  const body = await call(
    "GET",
    `/latest/meta-data/iam/security-credentials/${encodeURIComponent(role)}`,
    auth,
  );
  let doc: {
    Code?: string;
    AccessKeyId?: string;
    SecretAccessKey?: string;
    Token?: string;
    Expiration?: string;
  };
  try {
    doc = JSON.parse(body);
  } catch {
    throw new Error(`the credentials of role ${role} are not JSON`);
  }
  const expiresAt = Date.parse(doc.Expiration ?? "");
  if (doc.Code !== "Success" || !doc.AccessKeyId || !doc.SecretAccessKey || !Number.isFinite(expiresAt))
    throw new Error(`role ${role}: Code ${doc.Code ?? "missing"}, or no keys or expiration`);
  return { credentials: creds(doc.AccessKeyId, doc.SecretAccessKey, doc.Token), expiresAt };
}

import { createHash } from "node:crypto";
import { migrate, PrismaClient, SCHEMA_LOCK_SQL } from "@docfleet/schema";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { type Database, type QueryOptions, StatementTimeoutError } from "../../ports/database.ts";

export interface PostgresOptions {
  url: string;
  /** Connections in the pool shared by Prisma and raw SQL. */
  poolSize: number;
  /** Schema to use (search_path); tests use one schema per test file. */
  schema?: string;
  /**
   * `statement_timeout` of every connection (ms; 0: none): no statement of a request, a transaction
   * or a worker runs longer. Migrations lift it for their own connection.
   */
  statementTimeoutMs?: number;
}

/** PostgreSQL through a node-postgres pool shared by Prisma's driver adapter and raw queries. */
export async function openPostgresDatabase(opts: PostgresOptions): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize,
    options: opts.schema ? `-c search_path=${opts.schema}` : undefined,
    statement_timeout: opts.statementTimeoutMs || undefined,
  });
  if (opts.schema) {
    const { c, release } = await checkout(pool);
    try {
      await c.query(`${SCHEMA_LOCK_SQL} CREATE SCHEMA IF NOT EXISTS "${opts.schema.replaceAll('"', "")}"`);
    } finally {
      release();
    }
  }
  const prisma = new PrismaClient({
    adapter: new PrismaPg(pool, opts.schema ? { schema: opts.schema } : undefined),
  });
  // Migrations hold a session-level advisory lock across statements, so they need one connection.
  const withClient = async <T>(fn: (c: pg.PoolClient) => Promise<T>) => {
    const { c, release } = await checkout(pool);
    try {
      return await fn(c);
    } finally {
      release();
    }
  };
  const db: Database = {
    kind: "postgres",
    prisma,
    async exec(sql) {
      await pool.query(sql);
    },
    async query<T>(sql: string, params?: unknown[], o?: QueryOptions) {
      if (!o?.timeoutMs && !o?.signal) {
        const name = o?.prepared ? statementName(sql) : undefined;
        const res = name
          ? await pool.query({ name, text: sql, values: params })
          : await pool.query(sql, params);
        return res.rows as T[];
      }
      return bounded<T>(pool, sql, params, o);
    },
    async transaction(fn, opts) {
      const { c, release } = await checkout(pool);
      // Past the bound the connection goes: the server rolls back, a waiting statement fails.
      const bound = opts?.timeoutMs;
      const timer = bound
        ? setTimeout(() => {
            const stream = (c as unknown as { connection?: { stream?: { destroy(e?: Error): void } } })
              .connection?.stream;
            stream?.destroy(new Error(`transaction ran past ${bound} ms: its connection was closed`));
          }, bound)
        : undefined;
      /** BEGIN sent (alone or with the first statement); COMMIT sent with a `last` statement. */
      let begun = false;
      let committed = false;
      let broken: Error | undefined;
      try {
        const query = async <T>(sql: string, params?: unknown[], o?: { last?: boolean }) => {
          if (committed) throw new Error("a statement after the transaction's last one");
          const simple = !params || params.length === 0;
          if (!begun && !simple) {
            begun = true;
            await c.query("BEGIN");
          }
          // Without parameters the statement may share the round trip with BEGIN and COMMIT (simple
          // protocol, several statements, one result each).
          const before = !begun ? "BEGIN;\n" : "";
          const commit = simple && o?.last === true;
          begun = true;
          if (!simple) return (await c.query(sql, params)).rows as T[];
          if (!before && !commit) return (await c.query(sql)).rows as T[];
          const res = (await c.query(
            `${before}${sql};${commit ? "\nCOMMIT" : ""}`,
          )) as unknown as pg.QueryResult[];
          committed = commit;
          return res[before ? 1 : 0]!.rows as T[];
        };
        let result: Awaited<ReturnType<typeof fn>>;
        try {
          result = await fn({ query });
          if (begun && !committed) await c.query("COMMIT");
        } catch (err) {
          // A connection that cannot even roll back is not given to the pool's next user.
          if (begun && !committed)
            await c.query("ROLLBACK").catch((e: Error) => {
              broken = e;
            });
          throw err;
        }
        return result;
      } finally {
        clearTimeout(timer);
        release(broken);
      }
    },
    migrate: () =>
      withClient(async (c) => {
        // a migration may build an index for minutes: not bound by the pool's statement_timeout
        await c.query("SET statement_timeout = 0");
        try {
          return await migrate({
            exec: async (sql) => {
              await c.query(sql);
            },
            query: async <T>(sql: string, params?: unknown[]) => (await c.query(sql, params)).rows as T[],
          });
        } finally {
          await c.query("RESET statement_timeout");
        }
      }),
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
  return db;
}

const QUERY_CANCELED = "57014";

/**
 * A connection out of the pool, listened to while it is held: node-postgres emits 'error' on a client
 * whose connection dies (the database stopped, the network cut), and the pool listens only on idle
 * clients, so without this an outage while a transaction or a bounded statement holds its connection
 * ended the process on an unhandled 'error' event (issue 16: the relay exited during database-down).
 * The statement in flight fails by itself (the error is a database outage to the caller); `release()`
 * gives the connection back, or destroys it if it broke while held or `broken` says so.
 */
async function checkout(pool: pg.Pool): Promise<{ c: pg.PoolClient; release(broken?: Error): void }> {
  const c = await pool.connect();
  let lost: Error | undefined;
  const onError = (err: Error) => {
    lost ??= err;
  };
  c.on("error", onError);
  return {
    c,
    release(broken) {
      c.removeListener("error", onError);
      c.release(broken ?? lost);
    },
  };
}

/** Prepared statement names by text; past this many texts further ones run unnamed. */
const MAX_PREPARED = 500;
const preparedNames = new Map<string, string>();

/** The name `sql` is prepared under (the same on every connection), or undefined past MAX_PREPARED. */
function statementName(sql: string): string | undefined {
  let name = preparedNames.get(sql);
  if (name === undefined && preparedNames.size < MAX_PREPARED) {
    name = `docfleet_${createHash("sha1").update(sql).digest("hex").slice(0, 24)}`;
    preparedNames.set(sql, name);
  }
  return name;
}

/**
 * One statement on its own connection, in its own transaction with `SET LOCAL statement_timeout` (so
 * the bound ends with it and never leaks to the pool's next user), cancelled by `pg_cancel_backend`
 * when the signal aborts. The cancel is awaited before the connection goes back to the pool, so it
 * can only ever hit this statement (or find the connection idle, where it does nothing).
 */
async function bounded<T>(pool: pg.Pool, sql: string, params: unknown[] | undefined, o: QueryOptions) {
  o.signal?.throwIfAborted();
  const { c, release } = await checkout(pool);
  let cancelling: Promise<unknown> | undefined;
  const cancel = () => {
    // node-postgres keeps the backend's pid from BackendKeyData (untyped)
    const pid = (c as unknown as { processID?: number }).processID;
    if (pid) cancelling = pool.query("SELECT pg_cancel_backend($1)", [pid]).catch(() => undefined);
  };
  let broken: Error | undefined;
  try {
    o.signal?.throwIfAborted();
    o.signal?.addEventListener("abort", cancel, { once: true });
    const ms = Math.max(1, Math.floor(o.timeoutMs ?? 0));
    await c.query(o.timeoutMs ? `BEGIN; SET LOCAL statement_timeout = ${ms}` : "BEGIN");
    try {
      const res = await c.query(sql, params);
      await c.query("COMMIT");
      return res.rows as T[];
    } catch (err) {
      await c.query("ROLLBACK").catch((e: Error) => {
        broken = e;
      });
      if ((err as { code?: string }).code === QUERY_CANCELED) {
        if (o.signal?.aborted) throw o.signal.reason;
        if (o.timeoutMs)
          throw new StatementTimeoutError(`statement stopped after ${ms} ms (statement timeout)`, {
            cause: err,
          });
      }
      throw err;
    }
  } finally {
    o.signal?.removeEventListener("abort", cancel);
    await cancelling;
    release(broken);
  }
}

import type { Prisma, PrismaClient } from "@docfleet/schema";

/** A transaction's client. */
export type Tx = Prisma.TransactionClient;
/** The client or a transaction's: every repository function takes one, so it runs inside or outside one. */
export type Db = PrismaClient | Tx;

/** True for a unique-constraint violation (a lost race on an insert): Prisma's, or a raw statement's. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === "P2002" || code === "23505";
}

import type { Prisma, PrismaClient } from "@docfleet/schema";

/** A transaction's client. */
export type Tx = Prisma.TransactionClient;
/** The client or a transaction's: every repository function takes one, so it runs inside or outside one. */
export type Db = PrismaClient | Tx;

/** True for Prisma's unique-constraint violation (a lost race on an insert). */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === "P2002";
}

import { describe, expect, it } from "vitest";
import { DocumentError, FailureCode } from "./errors.ts";
import { DependencyUnavailableError, isConnectivityError, outageOf } from "./outages.ts";

const sys = (code: string) =>
  Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, syscall: "connect", errno: -111 });
const prisma = (code: string, meta?: object) =>
  Object.assign(new Error("prisma says"), { name: "PrismaClientKnownRequestError", code, meta });

describe("outageOf: infrastructure outages told from document failures", () => {
  it.each([
    ["Prisma P1001 (cannot reach the server)", prisma("P1001"), "database"],
    ["Prisma P2024 (no pool connection in time)", prisma("P2024"), "database"],
    [
      "Prisma with the driver adapter's ConnectionClosed",
      prisma("P2010", {
        driverAdapterError: { name: "DriverAdapterError", cause: { kind: "ConnectionClosed" } },
      }),
      "database",
    ],
    [
      "Prisma with PostgreSQL's admin shutdown (57P01)",
      prisma("P2010", { driverAdapterError: { cause: { kind: "postgres", originalCode: "57P01" } } }),
      "database",
    ],
    [
      "node-postgres: Connection terminated unexpectedly",
      new Error("Connection terminated unexpectedly"),
      "database",
    ],
    [
      "node-postgres DatabaseError 57P03 (the database system is starting up)",
      Object.assign(new Error("the database system is starting up"), { severity: "FATAL", code: "57P03" }),
      "database",
    ],
    [
      "PrismaClientInitializationError",
      Object.assign(new Error("x"), { name: "PrismaClientInitializationError" }),
      "database",
    ],
    [
      "rabbitmq-client AMQPConnectionError",
      Object.assign(new Error("CONNECTION_FORCED"), { name: "AMQPConnectionError" }),
      "broker",
    ],
    [
      "rabbitmq-client AMQPChannelError",
      Object.assign(new Error("channel closed"), { name: "AMQPChannelError" }),
      "broker",
    ],
    ["a tagged store outage", new DependencyUnavailableError("store", sys("ECONNREFUSED")), "store"],
    [
      "a tagged outage as a cause",
      new Error("wrapped", { cause: new DependencyUnavailableError("models", sys("ECONNRESET")) }),
      "models",
    ],
    ["a bare ECONNREFUSED (peer unknown)", sys("ECONNREFUSED"), "unknown"],
    [
      "fetch failed, caused by ETIMEDOUT",
      new TypeError("fetch failed", { cause: sys("ETIMEDOUT") }),
      "unknown",
    ],
    ["a 503 from a model server", Object.assign(new Error("busy"), { status: 503 }), "unknown"],
  ])("%s: %s", (_name, err, expected) => {
    expect(outageOf(err)).toBe(expected);
  });

  it.each([
    ["a DocumentError", new DocumentError(FailureCode.CORRUPT, "bad zip")],
    ["an ordinary error", new Error("Cannot read properties of undefined")],
    ["a unique violation", prisma("P2002")],
    [
      "a 500 from a model server (its answer to this document)",
      Object.assign(new Error("oops"), { status: 500 }),
    ],
    [
      "a syntax error from PostgreSQL",
      Object.assign(new Error("syntax"), { severity: "ERROR", code: "42601" }),
    ],
    ["not an error", "ECONNREFUSED"],
  ])("%s is the document's failure", (_name, err) => {
    expect(outageOf(err)).toBeNull();
  });

  it("connectivity: refused, reset, timed out, 502/503/504, S3's ServiceUnavailable; not a 404", () => {
    for (const code of ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE"])
      expect(isConnectivityError(sys(code))).toBe(true);
    for (const status of [502, 503, 504]) expect(isConnectivityError({ status })).toBe(true);
    expect(isConnectivityError(Object.assign(new Error("x"), { code: "ServiceUnavailable" }))).toBe(true);
    expect(isConnectivityError(Object.assign(new Error("x"), { code: "NoSuchKey", statusCode: 404 }))).toBe(
      false,
    );
  });
});

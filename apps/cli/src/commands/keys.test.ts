import { describe, expect, it } from "vitest";
import { parseExpiry } from "../args.ts";

describe("parseExpiry", () => {
  const now = new Date("2026-06-01T12:00:00Z");

  it("reads durations from now and dates", () => {
    expect(parseExpiry("30d", now).toISOString()).toBe("2026-07-01T12:00:00.000Z");
    expect(parseExpiry("12h", now).toISOString()).toBe("2026-06-02T00:00:00.000Z");
    expect(parseExpiry("90m", now).toISOString()).toBe("2026-06-01T13:30:00.000Z");
    expect(parseExpiry("2w", now).toISOString()).toBe("2026-06-15T12:00:00.000Z");
    expect(parseExpiry("2027-01-01", now).toISOString()).toBe("2027-01-01T00:00:00.000Z");
    expect(parseExpiry("2027-01-01T08:00:00Z", now).toISOString()).toBe("2027-01-01T08:00:00.000Z");
  });

  it("refuses the past, zero and nonsense", () => {
    expect(() => parseExpiry("2026-01-01", now)).toThrow(/in the past/);
    expect(() => parseExpiry("0d", now)).toThrow(/duration/);
    expect(() => parseExpiry("soon", now)).toThrow(/duration/);
  });
});

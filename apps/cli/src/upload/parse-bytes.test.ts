import { describe, expect, it } from "vitest";
import { parseBytes } from "../commands/upload.ts";
import { CliError, ExitCode } from "../exit-codes.ts";

describe("parseBytes", () => {
  it("reads binary units (KiB, MiB, and a bare K, M, G, T) as powers of 1024", () => {
    expect(parseBytes("64MiB")).toBe(64 * 1024 ** 2);
    expect(parseBytes("1.5KiB")).toBe(1_536);
    expect(parseBytes("1G")).toBe(1024 ** 3);
    expect(parseBytes("2k")).toBe(2_048);
    expect(parseBytes("1TiB")).toBe(1024 ** 4);
  });

  it("reads decimal units (KB, MB, GB, TB) as powers of 1000", () => {
    expect(parseBytes("100MB")).toBe(100_000_000);
    expect(parseBytes("1.5kb")).toBe(1_500);
    expect(parseBytes("2GB")).toBe(2e9);
  });

  it("reads a bare number as bytes, and allows spaces around and before the unit", () => {
    expect(parseBytes("1048576")).toBe(1_048_576);
    expect(parseBytes(" 8 MiB ")).toBe(8 * 1024 ** 2);
  });

  it("refuses anything else as a usage error", () => {
    for (const bad of ["", "MB", "abc", "-1", "1e6", "1.2.3", "10XB", "5 M B", "0x10", "12 mibs"]) {
      let err: unknown;
      try {
        parseBytes(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(CliError);
      expect((err as CliError).exitCode, bad).toBe(ExitCode.USAGE);
    }
  });
});

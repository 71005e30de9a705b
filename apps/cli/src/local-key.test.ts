import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { clientApiKey } from "./local-key.ts";

describe("clientApiKey", () => {
  let dir: string;
  const saved = process.env.DOCFLEET_DATA_DIR;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-local-key-"));
    process.env.DOCFLEET_DATA_DIR = dir;
  });

  afterEach(async () => {
    if (saved === undefined) delete process.env.DOCFLEET_DATA_DIR;
    else process.env.DOCFLEET_DATA_DIR = saved;
    await rm(dir, { recursive: true, force: true });
  });

  it("prefers the given key, else uses serve's admin key for the default endpoint only", async () => {
    expect(clientApiKey(undefined, "http://127.0.0.1:4000")).toBeUndefined();
    await writeFile(join(dir, "admin-key"), "dfk_local\n");
    expect(clientApiKey(undefined, "http://127.0.0.1:4000")).toBe("dfk_local");
    expect(clientApiKey(undefined, "http://127.0.0.1:4000/")).toBe("dfk_local");
    expect(clientApiKey("dfk_given", "http://127.0.0.1:4000")).toBe("dfk_given");
    expect(clientApiKey(undefined, "https://docfleet.example.com")).toBeUndefined();
    expect(clientApiKey(undefined, "http://127.0.0.1:4001")).toBeUndefined();
  });
});

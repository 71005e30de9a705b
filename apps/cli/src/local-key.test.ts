import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { clientApiKey } from "./local-key.ts";

describe("clientApiKey", () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-local-key-"));
    vi.stubEnv("DOCFLEET_DATA_DIR", dir);
  });

  afterEach(async () => {
    vi.unstubAllEnvs();
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

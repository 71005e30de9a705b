/** apps/cli/dist: the compiled CLI that bin/docfleet.mjs runs. */
export declare const DIST: string;
/** Whether a source the last build read, an asset or the build's own config changed since (or no build). */
export declare function isStale(): boolean;
/** Builds apps/cli/dist (only when stale with `ifStale`); with `strict`, throws on a packaging problem. */
export declare function buildCli(options?: {
  ifStale?: boolean;
  clean?: boolean;
  strict?: boolean;
  log?: (line: string) => void;
}): Promise<{ built: boolean }>;

// Entry of a parse thread: TypeScript sources load through tsx, as in the main thread.
import { register } from "tsx/esm/api";

register();
await import("./sandbox-main.ts");

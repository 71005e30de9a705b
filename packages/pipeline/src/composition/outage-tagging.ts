import {
  type Dependency,
  DependencyUnavailableError,
  isConnectivityError,
  isStorageUnavailableError,
} from "../domain/outages.ts";

/**
 * `port` with every method's connectivity failure (refused, reset, timed out, 502/503/504) rethrown as a
 * `DependencyUnavailableError` naming `dependency`, so that the stage runner can tell a store or model
 * server outage from a document's own failure. For the store, a file-system error that says its folder is
 * unavailable (full, not writable, failing: `isStorageUnavailableError`, the local store of `serve`) is
 * one too. Other errors, and non-promise results, pass unchanged.
 */
export function tagOutages<T extends object>(port: T, dependency: Dependency): T {
  const isOutage = (err: unknown) =>
    isConnectivityError(err) || (dependency === "store" && isStorageUnavailableError(err));
  const tag = (err: unknown): never => {
    if (err instanceof DependencyUnavailableError || !isOutage(err)) throw err;
    throw new DependencyUnavailableError(dependency, err);
  };
  return new Proxy(port, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        let out: unknown;
        try {
          out = value.apply(target, args);
        } catch (err) {
          tag(err);
        }
        return out instanceof Promise ? out.catch(tag) : out;
      };
    },
  });
}

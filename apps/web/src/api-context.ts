import { createContext, useContext } from "react";
import type { Api } from "./client.ts";

export const ApiContext = createContext<{ api: Api; signOut(): void } | null>(null);

export function useApi(): Api {
  const v = useContext(ApiContext);
  if (!v) throw new Error("useApi outside the signed-in console");
  return v.api;
}

export function useSignOut(): () => void {
  return useContext(ApiContext)?.signOut ?? (() => {});
}

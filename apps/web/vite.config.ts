import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// A static build the gateway serves at `/` (apps/gateway/src/console.ts): hashed file names under
// assets/ (cached for good), index.html never cached. `npm run dev` proxies the API to a local serve.
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    target: "es2022",
    // pdf.js (about 400 kB gzip with its worker) is loaded only when a PDF is previewed.
    chunkSizeWarningLimit: 1500,
  },
  worker: { format: "es" },
  server: {
    proxy: {
      "/graphql": { target: process.env.DOCFLEET_URL ?? "http://127.0.0.1:8080", ws: true },
      "/objects": process.env.DOCFLEET_URL ?? "http://127.0.0.1:8080",
      "/console": process.env.DOCFLEET_URL ?? "http://127.0.0.1:8080",
    },
  },
});

// Container health check without curl or wget (node:*-slim has neither): GETs each URL and exits 0 only
// if every one answers 2xx within the timeout. `gateway`, `worker` and `worker-gpu` name the URLs of
// that process, built from the same variables the process reads; anything else is taken as URLs.
const env = process.env;
const metrics = `http://127.0.0.1:${env.METRICS_PORT || "9464"}/health`;
const ollama = `${(env.OLLAMA_URL || "http://127.0.0.1:11434").replace(/\/+$/, "")}/api/version`;
const named = {
  gateway: [`http://127.0.0.1:${env.PORT || "4000"}/health`],
  worker: [metrics],
  "worker-gpu": [metrics, ollama],
};
const args = process.argv.slice(2);
const urls = args.length === 1 && named[args[0]] ? named[args[0]] : args;
if (urls.length === 0) {
  console.error("usage: healthcheck.mjs gateway|worker|worker-gpu|<url>...");
  process.exit(2);
}
const results = await Promise.allSettled(
  urls.map(async (url) => {
    const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  }),
);
const failed = results.filter((r) => r.status === "rejected");
for (const f of failed) console.error(String(f.reason?.message ?? f.reason));
process.exit(failed.length === 0 ? 0 : 1);

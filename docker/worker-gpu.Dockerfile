# syntax=docker/dockerfile:1
# docfleet GPU worker: `docfleet worker --roles understand,embed` with Ollama beside it, on the official
# ollama/ollama image (CUDA runtime included; the host needs the NVIDIA container toolkit).
# docker/worker-gpu-entrypoint.sh starts `ollama serve` (unless OLLAMA_URL names another server), pulls
# the configured models that are missing, then runs the worker. Build from the repository root:
#   docker build -f docker/worker-gpu.Dockerfile -t docfleet/worker-gpu .
#   docker build -f docker/worker-gpu.Dockerfile --build-arg BAKE_MODELS=1 -t docfleet/worker-gpu:baked .
# BAKE_MODELS=1 pulls the three models at build time (an image of ~15 GB that starts offline).
# The first three stages are the same in gateway, worker and worker-gpu, so the builder shares them.
ARG NODE_VERSION=22.23.5
ARG OLLAMA_VERSION=0.12.10

# deps: every workspace's dependencies exactly as locked, dev ones included (generate needs prisma).
# Install scripts stay off: sharp, @napi-rs/canvas and esbuild ship prebuilt binaries as optional
# packages, and @prisma/engines' script would only download engines the client does not use.
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY apps/cli/package.json apps/cli/
COPY apps/gateway/package.json apps/gateway/
COPY apps/web/package.json apps/web/
COPY apps/worker/package.json apps/worker/
COPY packages/pipeline/package.json packages/pipeline/
COPY packages/schema/package.json packages/schema/
COPY tests/package.json tests/
RUN npm ci --ignore-scripts --no-audit --no-fund

# generate: the Prisma client and Pothos types (packages/schema/src/generated), then schema.graphql,
# then the console's and the CLI's typed operations (apps/web/src/generated, apps/cli/src/generated),
# checked against that schema; then the build:
# the CLI and every workspace package it runs compiled into one bundle (apps/cli/dist).
# Prisma 7 wants a schema engine binary even to generate and never runs it: any existing file will do.
# The workspaces are named in dependency order rather than through turbo, which needs no git here.
FROM deps AS generate
COPY . .
ENV PRISMA_SCHEMA_ENGINE_BINARY=/usr/local/bin/node \
    PRISMA_HIDE_UPDATE_MESSAGE=1 \
    CHECKPOINT_DISABLE=1
RUN npm run generate -w @docfleet/schema && npm run generate -w @docfleet/gateway \
    && npm run generate -w @docfleet/web && npm run generate -w @docfleet/cli \
    && npm run build -w @docfleet/cli -- --strict

# prod-deps: runtime dependencies only (no tsx, no TypeScript: the image runs the compiled CLI).
FROM node:${NODE_VERSION}-bookworm-slim AS prod-deps
WORKDIR /app
COPY --from=deps /app/package.json /app/package-lock.json ./
COPY --from=deps /app/apps ./apps
COPY --from=deps /app/packages ./packages
COPY --from=deps /app/tests ./tests
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# node: the Node.js runtime to copy beside Ollama (same glibc family: Debian here, Ubuntu there).
FROM node:${NODE_VERSION}-bookworm-slim AS node

# runtime: Ollama's image plus Node.js and the app. tini as PID 1 forwards SIGTERM to the worker only, so
# it drains while Ollama keeps answering; files owned by root, both processes run as `docfleet`.
FROM ollama/ollama:${OLLAMA_VERSION} AS runtime
ARG BAKE_MODELS=0
# The defaults of packages/pipeline/src/config.ts; override at build (baked) or at run time.
ARG OLLAMA_TEXT_MODEL=qwen2.5:7b-instruct
ARG OLLAMA_VISION_MODEL=qwen2.5vl:7b
ARG OLLAMA_EMBED_MODEL=nomic-embed-text
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --user-group docfleet \
    && mkdir -p /var/lib/docfleet /models \
    && chown docfleet:docfleet /var/lib/docfleet /models
COPY --from=node /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
ENV NODE_ENV=production \
    DOCFLEET_DATA_DIR=/var/lib/docfleet \
    METRICS_PORT=9464 \
    METRICS_HOST=0.0.0.0 \
    WORKER_ROLES=understand,embed \
    OLLAMA_URL=http://127.0.0.1:11434 \
    OLLAMA_MODELS=/models \
    OLLAMA_TEXT_MODEL=${OLLAMA_TEXT_MODEL} \
    OLLAMA_VISION_MODEL=${OLLAMA_VISION_MODEL} \
    OLLAMA_EMBED_MODEL=${OLLAMA_EMBED_MODEL}
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=generate /app/apps/cli/package.json ./apps/cli/
COPY --from=generate /app/apps/cli/bin ./apps/cli/bin
COPY --from=generate /app/apps/cli/dist ./apps/cli/dist
COPY docker/healthcheck.mjs ./docker/healthcheck.mjs
COPY docker/worker-gpu-entrypoint.sh /usr/local/bin/worker-gpu-entrypoint.sh
RUN chmod 0755 /usr/local/bin/worker-gpu-entrypoint.sh \
    && ln -s /app/apps/cli/bin/docfleet.mjs /usr/local/bin/docfleet
USER docfleet
RUN if [ "$BAKE_MODELS" = "1" ]; then worker-gpu-entrypoint.sh --pull-only; fi
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["node", "/app/docker/healthcheck.mjs", "worker-gpu"]
ENTRYPOINT ["tini", "--", "/usr/local/bin/worker-gpu-entrypoint.sh"]
CMD ["worker", "--roles", "understand,embed"]

# syntax=docker/dockerfile:1
# docfleet worker (CPU): stage consumers of the distributed mode, parse and index by default
# (`docfleet worker --roles parse,index`). Build from the repository root:
#   docker build -f docker/worker.Dockerfile -t docfleet/worker .
# The first three stages are the same in gateway, worker and worker-gpu, so the builder shares them.
ARG NODE_VERSION=22.23.5

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

# runtime: glibc (Debian) for the prebuilt sharp and canvas binaries; tini as PID 1 forwards SIGTERM so
# the worker drains (stops taking messages, finishes what it holds); files owned by root, the process
# runs as the unprivileged `node` user. Health and metrics: METRICS_PORT (/health, /metrics).
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/docfleet \
    && chown node:node /var/lib/docfleet
WORKDIR /app
ENV NODE_ENV=production \
    DOCFLEET_DATA_DIR=/var/lib/docfleet \
    METRICS_PORT=9464 \
    METRICS_HOST=0.0.0.0 \
    WORKER_ROLES=parse,index
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=generate /app/apps/cli/package.json ./apps/cli/
COPY --from=generate /app/apps/cli/bin ./apps/cli/bin
COPY --from=generate /app/apps/cli/dist ./apps/cli/dist
COPY docker/healthcheck.mjs ./docker/healthcheck.mjs
RUN ln -s /app/apps/cli/bin/docfleet.mjs /usr/local/bin/docfleet
USER node
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["node", "/app/docker/healthcheck.mjs", "worker"]
ENTRYPOINT ["tini", "--", "node", "/app/apps/cli/bin/docfleet.mjs"]
CMD ["worker"]

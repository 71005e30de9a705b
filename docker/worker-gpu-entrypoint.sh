#!/bin/sh
# Entrypoint of docker/worker-gpu.Dockerfile: Ollama beside the docfleet worker.
#  1. OLLAMA_URL on this host (the default http://127.0.0.1:11434): start `ollama serve` in the background.
#     Any other OLLAMA_URL (compose's shared `ollama` service) is used as it is.
#  2. Wait until that server answers, then pull each configured model it lacks (OLLAMA_TEXT_MODEL,
#     OLLAMA_VISION_MODEL, OLLAMA_EMBED_MODEL); models baked in with BAKE_MODELS=1 are already there.
#  3. exec the docfleet CLI with the container's arguments (default: worker --roles understand,embed).
# `--pull-only` does 1 and 2 and stops the server again (the BAKE_MODELS build step).
set -eu

: "${OLLAMA_URL:=http://127.0.0.1:11434}"
: "${OLLAMA_TEXT_MODEL:=qwen2.5:7b-instruct}"
: "${OLLAMA_VISION_MODEL:=qwen2.5vl:7b}"
: "${OLLAMA_EMBED_MODEL:=nomic-embed-text}"
: "${OLLAMA_START_TIMEOUT_S:=120}"
export OLLAMA_URL
# The ollama CLI (serve, list, show, pull) finds its server through OLLAMA_HOST.
OLLAMA_HOST="$OLLAMA_URL"
export OLLAMA_HOST

log() { echo "worker-gpu: $*" >&2; }

case "$OLLAMA_URL" in
  http://127.0.0.1:* | http://localhost:*) local_ollama=1 ;;
  *) local_ollama=0 ;;
esac

serve_pid=""
if [ "$local_ollama" = 1 ]; then
  log "starting ollama serve on $OLLAMA_HOST"
  ollama serve &
  serve_pid=$!
fi

waited=0
until ollama list >/dev/null 2>&1; do
  if [ -n "$serve_pid" ] && ! kill -0 "$serve_pid" 2>/dev/null; then
    log "ollama serve exited"
    exit 1
  fi
  if [ "$waited" -ge "$OLLAMA_START_TIMEOUT_S" ]; then
    log "ollama did not answer at $OLLAMA_URL within ${OLLAMA_START_TIMEOUT_S}s"
    exit 1
  fi
  sleep 1
  waited=$((waited + 1))
done

for model in $(printf '%s\n' "$OLLAMA_TEXT_MODEL" "$OLLAMA_VISION_MODEL" "$OLLAMA_EMBED_MODEL" | sort -u); do
  if ollama show "$model" >/dev/null 2>&1; then
    log "model $model present"
  else
    log "pulling $model"
    ollama pull "$model"
  fi
done

if [ "${1:-}" = "--pull-only" ]; then
  if [ -n "$serve_pid" ]; then
    kill "$serve_pid"
    wait "$serve_pid" || true
  fi
  exit 0
fi

exec node /app/apps/cli/bin/docfleet.mjs "$@"

#!/usr/bin/env bash
# Stops what .ci/rgw-start.sh DIR started, by the pids its daemons wrote under DIR/run (radosgw first,
# the monitor last), waits for each to exit (SIGKILL after 20 s), then removes DIR.
set -uo pipefail
D=${1:?usage: rgw-stop.sh DIR}
[ -d "$D/run" ] || exit 0
pids=()
for f in "$D"/run/client.rgw.a.pid "$D"/run/osd.*.pid "$D"/run/mon.a.pid; do
  [ -f "$f" ] && pids+=("$(cat "$f")")
done
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
for p in "${pids[@]}"; do
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
done
echo "rgw-stop: stopped ${pids[*]:-nothing}" >&2
rm -rf "$D"

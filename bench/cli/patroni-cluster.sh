#!/usr/bin/env bash
# bench/cli/patroni-cluster.sh start|stop|status — the Patroni 3.0.2 + pysyncobj anchor cluster
# (3 members on loopback) that bench/cli/run.sh times patronictl and syncobj_admin against.
# It reuses ../shared/anchors/patroni/common.sh (configs, start/stop by recorded PID, readiness
# wait) but in its own directory and on its own ports, so it never collides with an anchor run of
# another session: PostgreSQL 5533-5535, REST 8101-8103, Raft 5111-5113 (the anchor uses 5433…, 8001…, 5011…).
# Requires ../shared/anchors/patroni/00_install.sh to have run (Debian packages).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The checkout's sibling ../shared (a worktree under ../wt/NAME: two levels up), or HACTL_PATRONI_ANCHORS.
ANCHORS=${HACTL_PATRONI_ANCHORS:-}
if [ -z "$ANCHORS" ]; then
  for d in "$HERE/../../../shared" "$HERE/../../../../shared"; do
    [ -f "$d/anchors/patroni/common.sh" ] && { ANCHORS=$(cd "$d/anchors/patroni" && pwd); break; }
  done
fi
[ -n "$ANCHORS" ] && [ -f "$ANCHORS/common.sh" ] || { echo "error: $ANCHORS/common.sh not found (set HACTL_PATRONI_ANCHORS)" >&2; exit 1; }
export ANCHOR_DIR=${ANCHOR_DIR:-/tmp/hactl-bench-cli-patroni}
export SCRIPT_DIR=$ANCHORS
. "$ANCHORS/common.sh"
pg_port()   { echo $((5532 + $1)); }
api_port()  { echo $((8100 + $1)); }
raft_port() { echo $((5110 + $1)); }
# pa_wait.py polls the anchor's fixed REST ports: wait on ours with the same readiness rule.
ready() {
  local n body
  for n in $NODES; do
    body=$(curl -s -m 2 "http://127.0.0.1:$(api_port "$n")/cluster" || true)
    [ -n "$body" ] || continue
    echo "$body" | jq -e '([.members[]? | select(.role=="leader" and .state=="running")] | length) == 1
      and ([.members[]? | select(.role=="replica" and .state=="running" and .lag == 0)] | length) == 2' >/dev/null && return 0
  done
  return 1
}
case "${1:-}" in
  start)
    command -v patroni >/dev/null || { echo "error: patroni missing: run $ANCHORS/00_install.sh" >&2; exit 1; }
    stop_all; wipe_data
    gen_configs 30 10 10      # the anchor's default demo timing (02_ctl_timing.sh)
    for n in $NODES; do start_node "$n"; done
    for ((i = 0; i < 1200; i++)); do ready && break; sleep 0.25; done
    ready || { echo "error: the Patroni cluster in $ANCHOR_DIR was not ready after 300 s; logs: $ANCHOR_DIR/logs" >&2; exit 1; }
    echo "Patroni cluster ready: patronictl -c $ANCHOR_DIR/node1.yml list; syncobj_admin -conn 127.0.0.1:$(raft_port 1) -status"
    ;;
  stop)
    stop_all
    for n in $NODES; do rm -rf "$ANCHOR_DIR/node$n" "$ANCHOR_DIR/raft$n" "$ANCHOR_DIR/pgpass$n"; done
    ;;
  status) ready && echo ready || { echo "not ready"; exit 1; } ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

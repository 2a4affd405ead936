#!/usr/bin/env bash
# bench/cli/run.sh [RUNS] [ROUNDS] — operator command start-up, hactl against patronictl / syncobj_admin in
# one hyperfine run (issue 19). Each tool talks to its own running 3-member cluster on this host:
#   hactl: a `hactl demo --keep` cluster started here (or HACTL_BENCH_CONFIG=ha.yml and
#          HACTL_BENCH_RAFT=host:port of a running one), stopped and removed at the end;
#   Patroni 3.0.2 + pysyncobj: bench/cli/patroni-cluster.sh (../shared/anchors/patroni), started
#          here unless it is already up, stopped at the end when started here.
# Prints the table (median, mean ± σ, ratio to the reference, target met?) and writes the raw
# hyperfine JSON to $OUT (default /tmp/hactl-bench-cli). Needs `npm run build`, hyperfine, jq.
# Timing: hyperfine -N (no shell). The RUNS (default 10) runs of each command are taken in ROUNDS
# (default 5) rounds of RUNS/ROUNDS runs, each round over every command, so that a load that drifts
# during the run (other sessions on a shared VM) weighs on all commands alike; consecutive runs of
# one command would measure the load of its moment. 2 warm-up runs per command in the first round
# (the first one of each hactl command writes its code cache), 1 in later rounds. `node -e 0` is the
# floor for Node's own start. A cluster started here gets 20 s to settle after "Cluster ready".
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/bench/cli"
RUNS=${1:-10}
ROUNDS=${2:-5}
PER_ROUND=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
OUT=${OUT:-/tmp/hactl-bench-cli}
mkdir -p "$OUT"
HACTL="node $ROOT/bin/run.js"
[ -f "$ROOT/dist/hactl.cjs" ] || { echo "error: run npm run build first" >&2; exit 1; }

cleanup() {
  if [ -n "${DEMO_PID:-}" ]; then
    kill -TERM "$DEMO_PID" 2>/dev/null || true     # the demo stops its agents, which stop PostgreSQL
    for _ in $(seq 600); do kill -0 "$DEMO_PID" 2>/dev/null || break; sleep 0.1; done
    rm -rf "$DEMO_DIR"
  fi
  [ -n "${PATRONI_STARTED:-}" ] && bash "$HERE/patroni-cluster.sh" stop || true
}
trap cleanup EXIT

if [ -n "${HACTL_BENCH_CONFIG:-}" ]; then
  CONFIG=$HACTL_BENCH_CONFIG; RAFT=${HACTL_BENCH_RAFT:?set HACTL_BENCH_RAFT=host:port with HACTL_BENCH_CONFIG}
else
  DEMO_DIR=$(mktemp -d /tmp/hactl-bench-cli-demo-XXXXXX)
  rmdir "$DEMO_DIR"   # the demo wants to create it
  setsid $HACTL demo --dir "$DEMO_DIR" --keep --interval 3600 --timeout 300 > "$OUT/demo.out" 2>&1 &
  DEMO_PID=$!
  for _ in $(seq 3000); do grep -q 'Cluster ready' "$OUT/demo.out" && break; kill -0 "$DEMO_PID" 2>/dev/null || break; sleep 0.1; done
  grep -q 'Cluster ready' "$OUT/demo.out" || { echo "error: hactl demo did not get ready; its output:" >&2; cat "$OUT/demo.out" >&2; exit 1; }
  CONFIG="$DEMO_DIR/node1/ha.yml"
  sleep 20   # replicas finish catching up, the first checkpoints pass: not part of what is measured
  RAFT=$(awk '/node1: PostgreSQL/ {for (i = 1; i < NF; i++) if ($i == "Raft") print $(i + 1)}' "$OUT/demo.out")
fi

if bash "$HERE/patroni-cluster.sh" status >/dev/null 2>&1; then :; else
  bash "$HERE/patroni-cluster.sh" start; PATRONI_STARTED=1
fi
PDIR=${ANCHOR_DIR:-/tmp/hactl-bench-cli-patroni}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
  hyperfine -N --warmup "$([ "$round" = 1 ] && echo 2 || echo 1)" --runs "$PER_ROUND" --export-json "$OUT/round$round.json" --style none \
    -n 'node -e 0' 'node -e 0' \
    -n 'hactl --version' "$HACTL --version" \
    -n 'hactl list' "$HACTL list -c $CONFIG" \
    -n 'hactl topology' "$HACTL topology -c $CONFIG" \
    -n 'hactl raft status' "$HACTL raft status -c $RAFT" \
    -n 'hactl switchover --help' "$HACTL switchover --help" \
    -n 'patronictl list' "patronictl -c $PDIR/node1.yml list" \
    -n 'patronictl topology' "patronictl -c $PDIR/node1.yml topology" \
    -n 'syncobj_admin -status' "syncobj_admin -conn 127.0.0.1:5111 -status"
done
# All rounds' run times per command, with hyperfine's statistics recomputed over them.
jq -s '{results: ([.[].results[]] | group_by(.command) | map({command: .[0].command, times: ([.[].times[]] | sort)})
  | map(. + {median: (.times | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end),
             mean: (.times | add / length)})
  | map(. + {stddev: ((.times | map(. * .) | add / length) - .mean * .mean | sqrt)}))}' "$OUT"/round*.json > "$OUT/hyperfine.json"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo "bench/cli: $(date -u '+%Y-%m-%d %H:%M UTC'), node $(node -v), $((PER_ROUND * ROUNDS)) runs per command in $ROUNDS rounds, load average $load_before (before) / $load_after (after)"
jq -r '
  (.results | map({key: .command, value: .}) | from_entries) as $r
  | def ms(x): (x * 1000 | round);
    def row(name; ref; target; ok):
      $r[name] as $c
      | "| `\(name)` | \(ms($c.median)) | \(ms($c.mean)) ± \(ms($c.stddev)) | \(if ref then "\(ref): \(($c.median / $r[ref].median * 100 | round) / 100)×" else "" end) | \(target) | \(ok) |";
  "| command | median ms | mean ± σ ms | ratio of medians | target | met? |",
  "|---|---:|---:|---|---|---|",
  row("hactl list"; "patronictl list"; "≤ 0.5 × patronictl list"; if $r["hactl list"].median <= 0.5 * $r["patronictl list"].median then "yes" else "no" end),
  row("hactl topology"; "patronictl topology"; ""; ""),
  row("hactl raft status"; "syncobj_admin -status"; "≤ 1.0 × syncobj_admin -status"; if $r["hactl raft status"].median <= $r["syncobj_admin -status"].median then "yes" else "no" end),
  row("hactl --version"; "node -e 0"; "≤ node -e 0 + 60 ms (\(ms($r["hactl --version"].median - $r["node -e 0"].median)) ms over)"; if $r["hactl --version"].median <= $r["node -e 0"].median + 0.060 then "yes" else "no" end),
  row("hactl switchover --help"; "node -e 0"; ""; ""),
  row("patronictl list"; null; ""; ""),
  row("patronictl topology"; null; ""; ""),
  row("syncobj_admin -status"; null; ""; ""),
  row("node -e 0"; null; "floor"; "")
' "$OUT/hyperfine.json"

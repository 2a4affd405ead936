#!/usr/bin/env bash
# Runs one tier of the test files with node:test through tsx:
#   bash scripts/run-tests.sh unit|integration|e2e|all [--tap-only]
# scripts/test-files.mjs lists the files (Node 20's runner neither expands globs nor finds .ts
# files in a directory) and fails on an empty list, so nothing "passes" by running nothing.
# Unit files run in two shards, one process each (scripts/unit-shard.mjs); scripts/unit-guard.mjs
# keeps them free of processes. Integration and e2e files spawn `node bin/run.js`: build first (the
# npm scripts do).
set -euo pipefail
cd "$(dirname "$0")/.."
tier="${1:-all}"
shift || true
list="$(node scripts/test-files.mjs --runnable "$tier")"
mapfile -t files <<<"$list"
# scripts/run-tests.mjs, not `node --test`: it starts the files in the order given (node --test sorts
# them by path itself) and ends with the slowest files. Each test process inherits these --import flags.
run=(node --import tsx --import ./scripts/unit-guard.mjs scripts/run-tests.mjs)
# --tap-only (npm run test:repeat): TAP on stdout and nothing else.
if [ "${1:-}" = "--tap-only" ]; then exec "${run[@]}" --tap-only "${files[@]}"; fi
if [ "$#" -gt 0 ]; then echo "run-tests.sh: unknown option $1" >&2; exit 2; fi
# Otherwise a second TAP copy goes to a file, and a failing run ends with every failed test, its
# location and the first lines of its error (scripts/tap-failures.mjs): a CI log that shows only
# its beginning and end still says what failed and why.
tap="$(mktemp "${TMPDIR:-/tmp}/hactl-tests-XXXXXX.tap")"
trap 'rm -f "$tap"' EXIT
set +e
"${run[@]}" --tap-file "$tap" "${files[@]}"
rc=$?
set -e
if [ "$rc" -ne 0 ]; then node scripts/tap-failures.mjs "$tap"; fi
exit "$rc"

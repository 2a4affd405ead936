#!/usr/bin/env bash
# Runs every test file under test/ with node:test through tsx.
# Node 20's runner neither expands globs nor finds .ts files in a directory, so list them here
# and refuse to "pass" with nothing to run.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find test -name '*.test.ts' | sort)
if [ "${#files[@]}" -eq 0 ]; then
  echo "error: no test files found under test/" >&2
  exit 1
fi
exec node --import tsx --test --test-concurrency="${HACTL_TEST_CONCURRENCY:-2}" --test-timeout=600000 "${files[@]}"

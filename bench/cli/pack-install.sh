#!/usr/bin/env bash
# bench/cli/pack-install.sh — the package as users get it keeps working with the bundled CLI:
#   1. `npm pack` (its prepare step builds: tsc, the bundle, the oclif manifest);
#   2. `npm i -g` of the tarball into a throw-away prefix (a global install that touches no one else's);
#   3. the installed `hactl`: --version, help, a command's help, `raft status` (real or refused),
#      and the code cache it writes next to its bundle;
#   4. `npx hactl --version` from this checkout;
#   5. `npm uninstall -g`, and the prefix is removed.
# Exits non-zero at the first failure, saying which step. Needs the npm registry for the
# dependencies (step 2). Usage: bash bench/cli/pack-install.sh [RAFT_HOST:PORT]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d /tmp/hactl-pack-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "pack-install: FAILED: $*" >&2; exit 1; }
step() { echo "pack-install: $*" >&2; }

step "npm pack (builds through prepare)"
(cd "$ROOT" && npm pack --pack-destination "$WORK" >"$WORK/pack.log" 2>&1) || { cat "$WORK/pack.log" >&2; fail "npm pack"; }
TGZ=$(ls "$WORK"/hactl-*.tgz)
tar -tzf "$TGZ" > "$WORK/files.txt"
for f in package/bin/run.js package/dist/hactl.cjs package/dist/raft-status.cjs package/dist/agent/entry.js package/oclif.manifest.json; do
  grep -qx "$f" "$WORK/files.txt" || fail "$f is not in $(basename "$TGZ")"
done
! grep -q '\.cache$' "$WORK/files.txt" || fail "a code cache was packed (it belongs to the machine that ran the CLI)"

step "npm i -g $(basename "$TGZ") --prefix $WORK/prefix"
npm i -g "$TGZ" --prefix "$WORK/prefix" --no-audit --no-fund >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log" >&2; fail "npm i -g"; }
HACTL="$WORK/prefix/bin/hactl"
PKG="$WORK/prefix/lib/node_modules/hactl"
version=$(node -p "require('$ROOT/package.json').version")

out=$("$HACTL" --version) || fail "hactl --version exited $?"
[[ "$out" == "hactl/$version "* ]] || fail "hactl --version printed: $out"
"$HACTL" --help | grep -q 'raft' || fail "hactl --help does not list the raft topic"
"$HACTL" switchover --help | grep -q -- '--candidate' || fail "hactl switchover --help lacks --candidate"
"$HACTL" help switchover | grep -q -- '--candidate' || fail "hactl help switchover lacks --candidate"
ls "$PKG"/dist/hactl.cjs.switchover.cache >/dev/null 2>&1 || fail "no code cache written next to the installed bundle"
if [ -n "${1:-}" ]; then
  "$HACTL" raft status -c "$1" --raw | grep -q '^state:' || fail "hactl raft status -c $1"
else
  set +e; "$HACTL" raft status -c 127.0.0.1:1 --timeout 1 >/dev/null 2>"$WORK/err.txt"; rc=$?; set -e
  [ "$rc" -ne 0 ] && grep -q '^Error: ' "$WORK/err.txt" || fail "raft status against a closed port: exit $rc, stderr $(cat "$WORK/err.txt")"
fi
"$HACTL" agent --validate-config -c /nonexistent.yml >/dev/null 2>&1 && fail "agent --validate-config accepted a missing file"

step "npx hactl --version from the checkout"
out=$(cd "$ROOT" && npx --no-install hactl --version) || fail "npx hactl --version"
[[ "$out" == "hactl/$version "* ]] || fail "npx hactl --version printed: $out"

step "npm uninstall -g hactl"
npm uninstall -g hactl --prefix "$WORK/prefix" >/dev/null 2>&1 || fail "npm uninstall -g"
[ ! -e "$HACTL" ] || fail "$HACTL still there after uninstall"
echo "pack-install: OK ($(basename "$TGZ"), $(wc -l < "$WORK/files.txt") files)"

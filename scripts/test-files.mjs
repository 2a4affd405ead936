#!/usr/bin/env node
// Lists the test files of one tier, one per line, sorted (Node 20's runner neither expands globs nor
// finds .ts files in a directory, so the runner scripts pass it this list).
//
//   node scripts/test-files.mjs unit|integration|e2e|all
//   node scripts/test-files.mjs --runnable unit|integration|e2e|all   what run-tests.sh hands to scripts/run-tests.mjs:
//       the unit files replaced by the entries of their shards (scripts/unit-shards/)
//
// Tiers are derived from what a file does, so a new test lands in the right one by itself:
// - e2e: everything under test/e2e/ (whole clusters of agents);
// - integration: a file that starts processes (PostgreSQL, etcd, agents, the CLI, any child), that
//   is, it or a test-side module it imports (transitively, within test/) mentions node:child_process
//   or a fixture listed in SPAWNING;
// - unit: the rest, pure and in-process. scripts/unit-guard.mjs makes any spawn fail there, so a
//   file this rule misjudges fails loudly instead of slowing the fast tier down.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TEST_DIR = path.join(ROOT, 'test');

/** Test-side fixtures that start processes even when the importing file does not say so. */
const SPAWNING = ['test/helpers/postgres.ts', 'test/helpers/cluster.ts', 'test/helpers/etcd.ts', 'test/helpers/process.ts', 'test/helpers/netfault.ts'];

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...walk(full));
    else out.push(full);
  }
  return out;
}

const IMPORT = /(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;

/** Relative imports of a file that resolve to files under test/ (src/ is product code and never spawns on import). */
function localImports(file) {
  const text = readFileSync(file, 'utf8');
  const out = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    const target = path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'));
    if (target.startsWith(TEST_DIR + path.sep)) out.push(target);
  }
  return out;
}

const spawnCache = new Map();
function startsProcesses(file, seen = new Set()) {
  if (spawnCache.has(file)) return spawnCache.get(file);
  if (seen.has(file)) return false;
  seen.add(file);
  let result = SPAWNING.includes(path.relative(ROOT, file)) || /['"]node:child_process['"]/.test(readFileSync(file, 'utf8'));
  if (!result) {
    for (const dep of localImports(file)) {
      try {
        if (startsProcesses(dep, seen)) {
          result = true;
          break;
        }
      } catch (err) {
        if (err.code !== 'ENOENT') throw err;
        // An import we cannot resolve to a file (a directory index, say) is left to tsc to judge.
      }
    }
  }
  spawnCache.set(file, result);
  return result;
}

export function tierOf(file) {
  const rel = path.relative(ROOT, file);
  if (rel.startsWith('test/e2e/')) return 'e2e';
  return startsProcesses(file) ? 'integration' : 'unit';
}

const ORDER = ['e2e', 'integration', 'unit'];
/** One entry per unit shard (the file name says which); node --test runs each as one process. */
export const SHARD_ENTRIES = ['scripts/unit-shards/1-of-2.mjs', 'scripts/unit-shards/2-of-2.mjs'];

/**
 * Seconds the slow process-starting files took in a whole-suite run (CI of 2026-12-03 on this 2-core
 * machine while other work loaded it, so the figures are inflated; only their order is used). A
 * file missing here counts 10 s. scripts/run-tests.mjs starts files in the order given, `concurrency` at a
 * time: longest first keeps a long file from starting last and running alone at the end (the
 * run's length is then about max(longest file, total / concurrency)).
 */
const SLOW_SECONDS = {
  'test/e2e/rejoin.test.ts': 600,
  'test/e2e/sync.test.ts': 440,
  'test/e2e/etcd.test.ts': 127,
  'test/compat/dcs-failsafe-mode.test.ts': 140,
  'test/compat/basic-replication.test.ts': 88,
  'test/compat/priority-failover.test.ts': 24,
  'test/compat/priority-sync.test.ts': 21,
  'test/compat/watchdog.test.ts': 34,
  'test/compat/patroni-api.test.ts': 44,
  'test/e2e/logical-slots.test.ts': 240,
  'test/helpers/netfault.test.ts': 127,
  'test/e2e/faults-bootstrap.test.ts': 122,
  'test/e2e/fencing.test.ts': 100,
  'test/e2e/faults-lag-freeze.test.ts': 88,
  'test/e2e/faults-partition-reinit.test.ts': 86,
  'test/e2e/agent-faults.test.ts': 64,
  'test/compat/standby-cluster.test.ts': 60,
  'test/compat/permanent-slots.test.ts': 40,
  'test/postgres/replication.test.ts': 83,
  'test/helpers/writer.test.ts': 58,
  'test/e2e/patroni-config.test.ts': 58,
  'test/e2e/security-agent-symlinks.test.ts': 56,
  'test/e2e/rest-hardening.test.ts': 46,
  'test/postgres/lifecycle.test.ts': 41,
  'test/e2e/faults-partition-rewind.test.ts': 40,
  'test/e2e/agent-cluster.test.ts': 37,
  'test/raft/process/five-nodes-membership.test.ts': 35,
  'test/raft/process/growth.test.ts': 28,
  'test/raft/process/heal.test.ts': 25,
  'test/commands/cluster.test.ts': 24,
  'test/raft/storage/crash.test.ts': 22,
};

/**
 * The files of `tier`, longest first (SLOW_SECONDS), then by name; for `all`, every file with the
 * longest tiers first: with a few files at a time, the long e2e files then start at once instead of
 * being the tail of the run.
 */
export function testFiles(tier) {
  const all = walk(TEST_DIR)
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => path.relative(ROOT, f))
    .sort();
  const seconds = (f) => SLOW_SECONDS[f] ?? 10;
  const tiers = tier === 'all' ? ORDER : [tier];
  return tiers.flatMap((t) => all.filter((f) => tierOf(path.join(ROOT, f)) === t).sort((a, b) => seconds(b) - seconds(a) || a.localeCompare(b)));
}

/**
 * Seconds a unit file takes on a quiet 2-core machine, for the ones well above the usual fraction
 * of a second (measured 2026-12; a file missing here counts 1 s). Only the balance of the shards
 * depends on it: a stale figure makes one shard finish later, nothing worse.
 */
const UNIT_SECONDS = {
  'test/raft/sim/simulation.test.ts': 25,
  'test/dcs/raft.test.ts': 10,
  'test/raft/sim/kv-linearizability.test.ts': 8,
  'test/agent/ha/sync.property.test.ts': 4,
  'test/raft/transport/hostile.test.ts': 4,
  'test/agent/watchdog/watchdog.test.ts': 4,
  'test/agent/api/health.test.ts': 4,
  'test/agent/api/actions.test.ts': 4,
};

/**
 * The unit files split into `count` shards of about equal time (longest first, each to the
 * lightest shard). A shard runs its files in one process (scripts/unit-shard.mjs): starting node
 * and tsx costs about a second of CPU per process, more than most unit files need to run.
 */
export function unitShards(count) {
  const shards = Array.from({ length: count }, () => ({ seconds: 0, files: [] }));
  const files = testFiles('unit')
    .map((f) => ({ f, seconds: UNIT_SECONDS[f] ?? 1 }))
    .sort((a, b) => b.seconds - a.seconds || a.f.localeCompare(b.f));
  for (const { f, seconds } of files) {
    const lightest = shards.reduce((min, s) => (s.seconds < min.seconds ? s : min));
    lightest.files.push(f);
    lightest.seconds += seconds;
  }
  return shards.map((s) => s.files.sort());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const runnable = process.argv[2] === '--runnable';
  const tier = process.argv[runnable ? 3 : 2] ?? 'all';
  if (!['unit', 'integration', 'e2e', 'all'].includes(tier)) {
    process.stderr.write(`usage: node scripts/test-files.mjs [--runnable] unit|integration|e2e|all (got ${tier})\n`);
    process.exit(2);
  }
  const files = testFiles(tier);
  if (files.length === 0) {
    process.stderr.write(`error: no ${tier} test files found under test/\n`);
    process.exit(1);
  }
  const out = runnable ? [...files.filter((f) => tierOf(path.join(ROOT, f)) !== 'unit'), ...(tier === 'unit' || tier === 'all' ? SHARD_ENTRIES : [])] : files;
  process.stdout.write(out.join('\n') + '\n');
}

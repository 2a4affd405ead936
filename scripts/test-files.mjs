#!/usr/bin/env node
// Lists the test files of one tier, one per line, in path order (Node 20's runner neither expands globs nor
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

/** One entry per unit shard (the file name says which); node --test runs each as one process. */
export const SHARD_ENTRIES = ['scripts/unit-shards/1-of-2.mjs', 'scripts/unit-shards/2-of-2.mjs'];

/**
 * The files of `tier` (every tier for `all`), in path order: the order `node --test` used, kept by
 * scripts/run-tests.mjs. Longest first (2026-12-04, two runs) took 19.5 and 21 min where path order
 * took 17.9-19.1: it starts the two longest e2e files (rejoin, sync) together, and whole clusters
 * side by side slow each other down, where path order pairs most long e2e files with lighter ones.
 */
export function testFiles(tier) {
  return walk(TEST_DIR)
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => path.relative(ROOT, f))
    .filter((f) => tier === 'all' || tierOf(path.join(ROOT, f)) === tier)
    .sort();
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
  const out = runnable ? [...(tier === 'unit' || tier === 'all' ? SHARD_ENTRIES : []), ...files.filter((f) => tierOf(path.join(ROOT, f)) !== 'unit')] : files;
  process.stdout.write(out.join('\n') + '\n');
}

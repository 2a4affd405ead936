#!/usr/bin/env node
// A flake hunt you can rerun: the test suite N times in a row, optionally while a CPU hog keeps
// every core busy, then each failing test with how often it failed and the logs of those runs.
//
//   npm run test:repeat -- --runs N [--stress] [--tier unit|integration|e2e|all] [--files a.test.ts,b.test.ts] [--no-build]
//
// Builds once (integration and e2e tests run bin/run.js), then runs scripts/run-tests.sh with the
// TAP reporter, one log per run under a fresh directory in $TMPDIR. --stress starts
// `stress-ng --cpu N` (Debian package stress-ng) or, without it, N node busy loops, N = number of
// cores; they are stopped when the runs end, however they end. Exit status 0 only when every run
// was green.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { failuresInTap } from './tap-failures.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function usage(message) {
  process.stderr.write(`${message}\nusage: npm run test:repeat -- --runs N [--stress] [--tier unit|integration|e2e|all] [--files a.test.ts,b.test.ts] [--no-build]\n`);
  process.exit(2);
}

export function parseArgs(argv) {
  const opts = { runs: 0, stress: false, tier: 'all', files: [], build: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${arg} needs a value`);
      return v;
    };
    if (arg === '--runs') opts.runs = Number(value());
    else if (arg === '--stress') opts.stress = true;
    else if (arg === '--tier') opts.tier = value();
    else if (arg === '--files') opts.files = value().split(',').filter(Boolean);
    else if (arg === '--no-build') opts.build = false;
    else usage(`unknown argument ${arg}`);
  }
  if (!Number.isInteger(opts.runs) || opts.runs < 1) usage('--runs must be a positive whole number');
  if (!['unit', 'integration', 'e2e', 'all'].includes(opts.tier)) usage(`--tier must be unit, integration, e2e or all (got ${opts.tier})`);
  return opts;
}

function startHog() {
  const cores = os.availableParallelism();
  const stressNg = spawnSync('sh', ['-c', 'command -v stress-ng'], { encoding: 'utf8' }).stdout.trim();
  if (stressNg) {
    const child = spawn(stressNg, ['--cpu', String(cores), '--quiet'], { stdio: 'ignore', detached: true });
    return { what: `stress-ng --cpu ${cores}`, pids: [child.pid] };
  }
  const pids = [];
  for (let i = 0; i < cores; i++) pids.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore', detached: true }).pid);
  return { what: `${cores} node busy loops`, pids };
}

function stopHog(hog) {
  for (const pid of hog?.pids ?? []) {
    try {
      // Its own process group (detached): stress-ng's workers go with it.
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone: nothing to stop.
    }
  }
}

function runOnce(opts, logFile) {
  return new Promise((resolve) => {
    const out = createWriteStream(logFile);
    const args = opts.files.length > 0 ? ['--import', 'tsx', '--import', './scripts/unit-guard.mjs', 'scripts/run-tests.mjs', '--tap-only', ...opts.files] : ['scripts/run-tests.sh', opts.tier, '--tap-only'];
    const child = spawn(opts.files.length > 0 ? process.execPath : 'bash', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('close', (code, signal) => {
      out.end(() => resolve({ code, signal }));
    });
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.build) {
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) process.exit(build.status ?? 1);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hactl-test-repeat-'));
  const hog = opts.stress ? startHog() : null;
  const stop = () => stopHog(hog);
  process.on('exit', stop);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
  const what = opts.files.length > 0 ? opts.files.join(', ') : `${opts.tier} tests`;
  process.stdout.write(`test:repeat: ${opts.runs} runs of ${what}${hog ? ` under ${hog.what}` : ''}; logs in ${dir}\n`);
  const failed = new Map();
  const runs = [];
  for (let run = 1; run <= opts.runs; run++) {
    const log = path.join(dir, `run-${run}.tap`);
    const started = Date.now();
    const { code, signal } = await runOnce(opts, log);
    const failures = failuresInTap(readFileSync(log, 'utf8'), ROOT);
    const seconds = Math.round((Date.now() - started) / 1000);
    runs.push({ run, code, seconds, failures: failures.length, load: os.loadavg()[0].toFixed(1) });
    for (const f of failures) {
      const entry = failed.get(f.name) ?? { ...f, count: 0, logs: [] };
      entry.count++;
      entry.logs.push(log);
      failed.set(f.name, entry);
    }
    const green = code === 0 && failures.length === 0;
    // A run can fail with no failed test in its log (the runner itself died): say so.
    const extra = !green && failures.length === 0 ? ` (exit ${code ?? signal}, no failed test in the log)` : '';
    process.stdout.write(`run ${run}/${opts.runs}: ${green ? 'green' : `${failures.length} failed`}${extra} in ${seconds} s (load ${runs.at(-1).load}) ${log}\n`);
    if (!green && failures.length === 0) {
      const head = readFileSync(log, 'utf8').split('\n').find((l) => l.trim() !== '') ?? '';
      failed.set(`run ${run}: runner exit ${code ?? signal}`, { name: `run ${run}: runner exit ${code ?? signal}`, count: 1, logs: [log], location: '', error: head.slice(0, 200) });
    }
  }
  stop();
  const greenRuns = runs.filter((r) => r.code === 0 && r.failures === 0).length;
  process.stdout.write(`\n${greenRuns} of ${opts.runs} runs green${hog ? ` under ${hog.what}` : ''} (${new Date().toISOString().slice(0, 10)})\n`);
  for (const f of [...failed.values()].sort((a, b) => b.count - a.count)) {
    const where = [f.location, f.error].filter(Boolean).map((l) => `   ${l}\n`).join('');
    process.stdout.write(`\n${f.count}× ${f.name}\n${where}   ${f.logs.join('\n   ')}\n`);
  }
  writeFileSync(path.join(dir, 'summary.json'), JSON.stringify({ opts, runs, failures: [...failed.values()] }, null, 2));
  process.exit(greenRuns === opts.runs ? 0 : 1);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();

// Runs test files through node:test's run() in the order scripts/test-files.mjs gives (path
// order), `HACTL_TEST_CONCURRENCY` (2) at a time, and ends with the slowest files and their seconds.
// `node --test a b c` would sort the files itself (Node 20), so no other order could be tried; one
// was (longest first, see test-files.mjs) and was slower.
//
//   node --import tsx --import ./scripts/unit-guard.mjs scripts/run-tests.mjs [--tap-only] [--tap-file F] file…
//
// Started with those --import flags so that every test process inherits them (run() starts each
// file with this process's execArgv). Output: spec on a terminal, TAP otherwise (and always with
// --tap-only); with --tap-file a second TAP copy goes to F. Exits 1 when any test failed.
import { createWriteStream } from 'node:fs';
import process from 'node:process';
import { pipeline } from 'node:stream/promises';
import { run } from 'node:test';
import { spec, tap } from 'node:test/reporters';

const args = process.argv.slice(2);
let tapOnly = false;
let tapFile = null;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--tap-only') tapOnly = true;
  else if (args[i] === '--tap-file') tapFile = args[++i];
  else if (args[i]?.startsWith('--')) throw new Error(`run-tests.mjs: unknown option ${args[i]}`);
  else files.push(args[i]);
}
if (files.length === 0) throw new Error('run-tests.mjs: no test files given');

const concurrency = Number(process.env.HACTL_TEST_CONCURRENCY ?? 2);
if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`HACTL_TEST_CONCURRENCY must be a positive integer, not ${process.env.HACTL_TEST_CONCURRENCY}`);

const abort = new globalThis.AbortController();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    process.exitCode = 130;
    abort.abort();
  });
}

const stream = run({ files, concurrency, timeout: 600_000, signal: abort.signal });
let failed = 0;
/** Seconds of top-level tests per file (the run's slowest files are printed at its end). */
const seconds = new Map();
const count = (data) => {
  if (data.nesting === 0 && data.file) seconds.set(data.file, (seconds.get(data.file) ?? 0) + (data.details?.duration_ms ?? 0) / 1000);
};
stream.on('test:pass', count);
stream.on('test:fail', (data) => {
  count(data);
  // A todo that fails is not a failure (as in node --test).
  if (!data.todo) failed++;
});

const shown = !tapOnly && process.stdout.isTTY ? stream.compose(spec) : stream.compose(tap);
const outputs = [pipeline(shown, process.stdout, { end: false })];
if (tapFile) outputs.push(pipeline(stream.compose(tap), createWriteStream(tapFile)));
await Promise.all(outputs);
if (!tapOnly && seconds.size > 0) {
  const slowest = [...seconds].sort((a, b) => b[1] - a[1]).slice(0, 30);
  const root = `${process.cwd()}/`;
  process.stderr.write(`slowest files (s): ${slowest.map(([f, s]) => `${f.replace(root, '')} ${Math.round(s)}`).join(', ')}\n`);
}
if (failed > 0 && !process.exitCode) process.exitCode = 1;

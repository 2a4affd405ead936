// Preloaded (`--import`) into every test process by scripts/run-tests.sh. In a unit test file
// (scripts/test-files.mjs decides: pure and in-process) starting any process — PostgreSQL, etcd,
// an agent, the CLI, a shell — fails at once with a message saying how to fix it, instead of
// quietly making the fast tier slow. test-files.mjs files a test that spawns under integration by
// looking at its imports; this catches what that look misses (a spawn inside src/).
// The toolchain itself (tsx's esbuild service) may still spawn: calls from node_modules are allowed.
// So may the few instant file utilities in TOOLS (Node has no mkfifo): they start no server.
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import process from 'node:process';
import { tierOf } from './test-files.mjs';

const TOOLS = new Set(['mkfifo']);
const NAMES = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'];

function fromToolchain(stack) {
  // The first frame outside this file and node's own internals decides who is spawning.
  for (const line of stack.split('\n').slice(1)) {
    if (line.includes('unit-guard.mjs') || line.includes('node:')) continue;
    return line.includes('/node_modules/');
  }
  return true;
}

// The runner's own process has no test file in argv[1]; only the process of a unit test file or
// of a unit shard (scripts/unit-shards/) is guarded.
const file = process.argv[1] ?? '';
if ((file.endsWith('.test.ts') && tierOf(file) === 'unit') || /unit-shards\/\d+-of-\d+\.mjs$/.test(file)) {
  for (const name of NAMES) {
    const original = childProcess[name];
    childProcess[name] = function guarded(...args) {
      if (!TOOLS.has(String(args[0])) && !fromToolchain(new Error().stack ?? '')) {
        throw new Error(
          `unit tests are pure and in-process, but this one starts a process (${name} ${String(args[0])}); ` +
            'start it through a test/helpers fixture that starts processes, or move the test, so scripts/test-files.mjs files it under integration',
        );
      }
      return original.apply(this, args);
    };
  }
  syncBuiltinESMExports();
}

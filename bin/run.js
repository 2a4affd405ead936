#!/usr/bin/env node
// The `hactl` executable. Cheapest way in first:
//   hactl --version       oclif's version line (name/version platform-arch node-version), printed
//                         without loading oclif: oclif prints it before anything else when the
//                         package declares no init hook, as ours does not.
//   hactl agent -c FILE   the daemon, from the tsc output, without oclif (src/agent/entry.ts).
//   hactl raft status …   for flags src/cli/raft-status-fast.ts fully understands (-c/--connect,
//                         --password, --timeout, --json, --raw, their env variables), the same
//                         output, error line and exit code without oclif, from the small bundle
//                         dist/raft-status.cjs (monitoring calls it in loops). Help, bad flags and
//                         anything else go to oclif. HACTL_FAST_PATH=off: always oclif.
//   anything else         oclif and every command from the bundle dist/hactl.cjs
//                         (scripts/bundle.mjs), compiled from V8's code cache when one exists for
//                         this build, this Node and this command word (dist/hactl.cjs.WORD.cache, or
//                         ~/.cache/hactl/ when dist/ is read-only). HACTL_CODE_CACHE=off: no cache.
//                         Both bundles load the same way (loadBundle).
// CommonJS (bin/package.json): an ES module entry would cost Node's ESM loader and a facade module
// per built-in (~30 ms of CPU on a loaded 2-core VM, half of what `hactl --version` is allowed).
'use strict';
const { mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { createRequire, Module } = require('node:module');
const os = require('node:os');
const path = require('node:path');
const vm = require('node:vm');

const argv = process.argv.slice(2);

if (argv[0] === '--version' && !os.release().toLowerCase().includes('microsoft')) {
  // oclif names the platform `wsl` under WSL (the release check above leaves that case to oclif).
  const { name, version } = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
  const arch = process.arch === 'ia32' ? 'x86' : process.arch;
  process.stdout.write(`${name}/${version} ${process.platform}-${arch} node-${process.version}\n`);
} else {
  main();
}

async function main() {
  const daemon = argv[0] === 'agent' ? await import('../dist/agent/entry.js') : null;
  const daemonConfig = daemon?.daemonConfigPath(argv, process.env) ?? null;
  if (daemon && daemonConfig !== null) {
    const { version } = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
    await daemon.runDaemon(daemonConfig, version);
  } else if (process.env.HACTL_FAST_PATH !== 'off' && commandWords(argv) === 'raft status' && (await raftStatusFast())) {
    // done: the fast path printed and set the exit code
  } else {
    const { execute } = loadBundle(bundlePath('hactl.cjs'));
    // `hactl help [COMMAND…]`: oclif's `help` command comes with @oclif/plugin-help, which the bundle
    // does not carry (it said "command help not found"); `COMMAND… --help` prints the same help.
    const args = argv[0] === 'help' ? [...argv.slice(1), '--help'] : argv;
    await execute({ dir: path.join(__dirname, '..'), args });
    // A one-shot read is done once oclif has flushed its output (stdout and stderr are synchronous
    // on Linux: files, pipes, terminals). process.exit() skips Node's teardown of the environment
    // and heap, which a natural exit pays after the last handle closes. Only for these commands:
    // others may leave work running after run() resolves (raft node, demo).
    if (process.platform === 'linux' && EXIT_WHEN_DONE.has(commandWords(argv))) process.exit();
  }
}

const EXIT_WHEN_DONE = new Set(['list', 'topology', 'history', 'raft status', 'raft members']);

/** `raft status` from `raft status …` or `raft:status …`; the first word otherwise. */
function commandWords(args) {
  const [first = '', second = ''] = args;
  if (first.includes(':')) return first.split(':').join(' ');
  return first === 'raft' ? `raft ${second}` : first;
}

/**
 * `raft status` without oclif when its parser takes the arguments; false (nothing printed, nothing
 * waited for) when oclif must run the command instead.
 */
async function raftStatusFast() {
  const fast = loadBundle(bundlePath('raft-status.cjs'));
  const flags = fast.parseFastArgs(argv.slice(argv[0].includes(':') ? 1 : 2), process.env);
  if (flags === null) return false;
  process.exitCode = await fast.runFastRaftStatus(flags);
  // As after oclif's run of this command (EXIT_WHEN_DONE): the output is written, skip teardown.
  if (process.platform === 'linux') process.exit();
  return true;
}

function bundlePath(name) {
  const file = path.join(__dirname, '..', 'dist', name);
  try {
    return realpathSync(file); // the name oclif's require() will resolve it to
  } catch {
    process.stderr.write(`Error: ${file} is missing: run \`npm run build\` in ${path.join(__dirname, '..')}\n`);
    process.exit(1);
  }
}

/**
 * Loads the CommonJS bundle the way require() would, but compiles it with a V8 code cache, and
 * registers it in require.cache so that oclif's own require() of the same file (the explicit
 * command strategy's target) gets this instance.
 */
function loadBundle(file) {
  const source = readFileSync(file, 'utf8');
  const useCache = process.env.HACTL_CODE_CACHE !== 'off';
  // V8 accepts a cache for any source of the same length and the same V8 version and flags: the
  // build id (first line of the bundle) and the Node version make a stale cache a miss instead.
  const tag = `hactl-code-cache ${/^\/\/ hactl-build (\S+)/.exec(source)?.[1] ?? 'unknown'} ${process.version} ${process.arch}\n`;
  // One cache per command word: each holds the functions that command compiled, and no more.
  const word = /^[a-z][a-z-]{0,30}$/.test(argv[0] ?? '') ? argv[0] : 'other';
  const name = `${path.basename(file)}.${word}.cache`;
  const places = [path.join(path.dirname(file), name), path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'hactl', name)];
  const cachedData = useCache ? readCodeCache(places, tag) : undefined;
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  const mod = new Module(file, null);
  mod.filename = file;
  const require = createRequire(file);
  require.cache[file] = mod;
  script.runInThisContext()(mod.exports, require, mod, file, path.dirname(file));
  mod.loaded = true;
  // Written once the command has run, so that it also holds the functions compiled on the way; only
  // after a success, so that a mistyped command word leaves no file behind.
  if (useCache && (cachedData === undefined || script.cachedDataRejected)) {
    process.once('exit', (code) => code === 0 && writeCodeCache(places, tag, script));
  }
  return mod.exports;
}

function readCodeCache(places, tag) {
  for (const place of places) {
    let data;
    try {
      data = readFileSync(place);
    } catch {
      continue; // no cache there (yet): the next place, or compile from source
    }
    if (data.subarray(0, tag.length).toString('latin1') === tag) return data.subarray(tag.length);
  }
  return undefined;
}

/** Next to the bundle when that directory is writable, else in the user's cache directory (oclif's cacheDir). */
function writeCodeCache(places, tag, script) {
  const data = Buffer.concat([Buffer.from(tag, 'latin1'), script.createCachedData()]);
  for (const place of places) {
    const tmp = `${place}.${process.pid}.tmp`;
    try {
      mkdirSync(path.dirname(place), { recursive: true });
      writeFileSync(tmp, data);
      renameSync(tmp, place); // atomic: a concurrent hactl reads the old cache or the new one
      return;
    } catch {
      // Read-only install or no home directory: the cache is an optimisation only.
      rmSync(tmp, { force: true });
    }
  }
}

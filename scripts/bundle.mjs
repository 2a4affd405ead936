// Bundles the operator CLI (oclif + every command + the code they reach) into dist/hactl.cjs, the
// file bin/run.js loads through V8's code cache. `npm run build` runs it after tsc; the tsc output in
// dist/ stays: the agent daemon (`hactl agent -c`) and the fence process run from it.
//
// Why one CommonJS file: Node 20 resolves, reads and compiles each ES module separately (≈ 250 files
// for `hactl list`), and only a classic script can be compiled from a V8 code cache
// (vm.Script cachedData; module.enableCompileCache needs Node 22). oclif finds the commands through
// its explicit strategy: package.json `oclif.commands` points at this file's COMMANDS export.
//
//   node scripts/bundle.mjs               build dist/hactl.cjs and dist/raft-status.cjs (+ .map);
//                                         bin/run.js writes a code cache per bundle and command
//                                         (dist/hactl.cjs.WORD.cache) on its first run
//   node scripts/bundle.mjs --meta        also print the biggest inputs (what the bundle weighs)
//   node scripts/bundle.mjs --no-minify   readable output, for profiling
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(ROOT, 'src');
const OUT = path.join(ROOT, 'dist', 'hactl.cjs');
const FAST_OUT = path.join(ROOT, 'dist', 'raft-status.cjs');

// Loaded from node_modules when a command needs them, never bundled: native code (koffi), packages
// that read files next to their own sources at run time (etcd3's gRPC protos), big ones that only
// the daemon or one action uses (pg, undici). Only direct dependencies, which npm always installs
// where dist/ can require() them, and only CommonJS ones: a vm.Script cannot import(), so the
// bundle's import() of them becomes require() (ESM-only packages such as chalk are bundled).
// pg-native: pg's optional native binding. typescript/ts-node/tsx: oclif's development mode asks
// for them and copes with their absence.
const EXTERNAL = ['pg', 'pg-native', 'etcd3', 'koffi', 'undici', 'typescript', 'ts-node', 'tsx'];

/** oclif command ids from the files under src/commands: raft/status.ts → raft:status. */
function commandFiles(dir = path.join(SRC, 'commands')) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? commandFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []))
    .sort();
}

function entrySource() {
  const files = commandFiles();
  if (files.length === 0) throw new Error(`no commands found under ${path.join(SRC, 'commands')}`);
  // Getters: oclif reads COMMANDS[id] of the one command it runs (the manifest holds the rest), so
  // only that command's module and what it imports are evaluated. `oclif manifest` reads them all.
  const getters = files.map((f) => {
    const id = path.relative(path.join(SRC, 'commands'), f).replace(/\.ts$/, '').split(path.sep).join(':').replace(/:index$/, '');
    const spec = JSON.stringify('./' + path.relative(ROOT, f).split(path.sep).join('/'));
    return `  get ${JSON.stringify(id)}() { return require(${spec}).default; },`;
  });
  return [
    `export const COMMANDS = {`,
    ...getters,
    `};`,
    // bin/run.js runs oclif from this copy: one @oclif/core instance for the runner and the commands.
    `export { execute } from '@oclif/core';`,
  ].join('\n');
}

// Sources that locate files relative to themselves (the fence process next to its client,
// package.json above the Raft node) keep the layout of the tsc output: in the bundle,
// import.meta.url is the URL the same file has under dist/.
const importMetaUrlAsInDist = {
  name: 'import-meta-url-as-in-dist',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const rel = path.relative(SRC, args.path).replace(/\.ts$/, '.js').split(path.sep).join('/');
      return { contents: text.replaceAll('import.meta.url', `__hactlDistUrl(${JSON.stringify(rel)})`), loader: 'ts' };
    });
  },
};

// What @oclif/core requires at load time but uses only on paths a command run rarely takes: loaded
// on first use instead, through a Proxy over the real module. Each costs CPU on every start
// (compiling and running its top level; for a built-in, Node compiling its JS on first require):
// perf_hooks (oclif's Performance, only with OCLIF_PERFORMANCE), child_process (getShell on
// Windows), readline (flags read from stdin), tinyglobby (the pattern command strategy; ours is
// explicit), and what only help and error rendering use (ejs, cli-spinners, clean-stack,
// wrap-ansi, string-width, widest-line, indent-string), minimatch (plugin filters). The Proxy
// answers `__esModule` as the real module would (checked here at build time), so TypeScript's
// __importDefault wrapper does not load it; calls go through `apply` (function exports); oclif
// reads every other use property by property at call time, which the Proxy serves as is.
const LAZY_IN_OCLIF = ['node:perf_hooks', 'node:child_process', 'node:readline', 'tinyglobby', 'ejs', 'cli-spinners', 'clean-stack', 'wrap-ansi', 'string-width', 'widest-line', 'indent-string', 'minimatch'];
const OCLIF_LIB = path.join(ROOT, 'node_modules', '@oclif', 'core', 'lib', 'index.js');
const lazyOclifRequires = {
  name: 'lazy-oclif-requires',
  setup(b) {
    const filter = new RegExp(`^(${LAZY_IN_OCLIF.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter }, (args) => {
      if (args.namespace === 'lazy-require' || !/[\\/]node_modules[\\/]@oclif[\\/]core[\\/]/.test(args.importer)) return undefined;
      return { path: args.path, namespace: 'lazy-require' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-require' }, (args) => {
      // A package that cannot be require()d (ESM only) or whose shape changed fails the build here.
      const real = createRequire(OCLIF_LIB)(args.path);
      return {
        resolveDir: path.dirname(OCLIF_LIB),
        loader: 'js',
        contents: [
          `let real;`,
          `const load = () => (real ??= require(${JSON.stringify(args.path)}));`,
          // An arrow function as the target: callable, and no non-configurable own keys (Proxy invariants).
          `module.exports = new Proxy(() => {}, {`,
          `  get: (_, k) => (k === '__esModule' ? ${JSON.stringify(real.__esModule === true)} : load()[k]),`,
          `  apply: (_, self, args) => Reflect.apply(load(), self, args),`,
          `  has: (_, k) => k in load(),`,
          `  ownKeys: () => Reflect.ownKeys(load()),`,
          `  getOwnPropertyDescriptor: (_, k) => { const d = Reflect.getOwnPropertyDescriptor(load(), k); return d && { ...d, configurable: true }; },`,
          `});`,
        ].join('\n'),
      };
    });
  },
};

// oclif warns when Node does not satisfy package.json engines.node, with semver: ~50 ms of CPU on
// a loaded VM to load semver and compile its range regexps, on every start. Our range is a plain
// lower bound, so the bundle compares version numbers instead (same warning, same opt-out
// variable). In the bundle oclif's check already read our package.json, not its own. A range of
// another shape keeps oclif's semver check; oclif's code changing shape fails the build.
const engineCheckWithoutSemver = {
  name: 'engine-check-without-semver',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]@oclif[\\/]core[\\/]lib[\\/]index\.js$/ }, (args) => {
      const range = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).engines?.node ?? '';
      const m = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range.trim());
      const text = readFileSync(args.path, 'utf8');
      if (!m) return { contents: text, loader: 'js' };
      const original = [
        "        const path = require('node:path');",
        "        const semver = require('semver');",
        "        const root = path.join(__dirname, '..');",
        "        const pjson = require(path.join(root, 'package.json'));",
        '        if (!semver.satisfies(process.versions.node, pjson.engines.node)) {',
      ].join('\n');
      if (!text.includes(original)) throw new Error(`${args.path}: oclif's engine check changed; update engineCheckWithoutSemver in scripts/bundle.mjs`);
      const min = [m[1], m[2] ?? '0', m[3] ?? '0'].map(Number);
      const replacement = [
        `        const pjson = { engines: { node: ${JSON.stringify(range)} } };`,
        `        const have = process.versions.node.split('.').map(Number), min = ${JSON.stringify(min)};`,
        '        const below = have[0] !== min[0] ? have[0] < min[0] : have[1] !== min[1] ? have[1] < min[1] : have[2] < min[2];',
        '        if (below) {',
      ].join('\n');
      return { contents: text.replace(original, replacement), loader: 'js' };
    });
  },
};

// oclif asks wsl-utils whether it runs under WSL (its getPlatform, on every start); wsl-utils
// also loads child_process and powershell-utils for the Windows-side helpers at import. oclif's
// util/os.js gets a wsl-utils with the same isWsl (from is-wsl, which wsl-utils re-exports) and
// the one other function it calls, powerShellPath, loading the real wsl-utils when called.
const slimWslUtilsForOclif = {
  name: 'slim-wsl-utils-for-oclif',
  setup(b) {
    b.onResolve({ filter: /^wsl-utils$/ }, (args) => {
      if (!/[\\/]node_modules[\\/]@oclif[\\/]core[\\/]lib[\\/]util[\\/]os\.js$/.test(args.importer)) return undefined;
      return { path: 'wsl-utils', namespace: 'slim-wsl-utils' };
    });
    b.onLoad({ filter: /.*/, namespace: 'slim-wsl-utils' }, () => ({
      resolveDir: path.dirname(OCLIF_LIB),
      loader: 'js',
      contents: [
        `import isWsl from 'is-wsl';`,
        `export { isWsl };`,
        `export const powerShellPath = async (...args) => (await import('wsl-utils')).powerShellPath(...args);`,
      ].join('\n'),
    }));
  },
};

// oclif sorts the manifest's command ids with localeCompare when it loads a plugin, on every
// start; the first localeCompare of a process sets up ICU's collator (40-80 ms of CPU on this
// loaded VM, more than anything else oclif does). Our ids are lower-case words, '-' and ':', for
// which code-unit order is the same order (help output compared byte for byte; a test checks the
// ids), so the bundle compares code units. oclif's code changing shape fails the build.
const commandSortWithoutIcu = {
  name: 'command-sort-without-icu',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]@oclif[\\/]core[\\/]lib[\\/]config[\\/]plugin\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      const original = '.sort((a, b) => a.id.localeCompare(b.id));';
      if (!text.includes(original)) throw new Error(`${args.path}: oclif's command sort changed; update commandSortWithoutIcu in scripts/bundle.mjs`);
      return { contents: text.replace(original, '.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));'), loader: 'js' };
    });
  },
};

const banner = [
  '"use strict";',
  '/* hactl CLI bundle, built by scripts/bundle.mjs from src/ and node_modules; edit those, not this. */',
  'const __hactlDistUrl = (rel) => require("node:url").pathToFileURL(require("node:path").join(__dirname, rel)).href;',
].join('\n');

const shared = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: EXTERNAL,
  // import() of our own modules stays lazy (esbuild wraps them); of the externals it becomes require().
  supported: { 'dynamic-import': false },
  // Error classes are told apart by name in places (err.name === 'NoAgentReachable').
  keepNames: true,
  // Smaller source to read and hash; names stay (keepNames) and the source map maps the rest.
  minify: !process.argv.includes('--no-minify'),
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'none',
  banner: { js: banner },
  metafile: true,
  logLevel: 'warning',
};

const result = await build({
  ...shared,
  stdin: { contents: entrySource(), resolveDir: ROOT, sourcefile: 'hactl-commands.js', loader: 'js' },
  outfile: OUT,
  plugins: [importMetaUrlAsInDist, lazyOclifRequires, engineCheckWithoutSemver, commandSortWithoutIcu, slimWslUtilsForOclif],
});

// `hactl raft status` without oclif (src/cli/raft-status-fast.ts; bin/run.js decides when): its
// own small bundle, so that the monitoring call reads and compiles only what it runs.
const fast = await build({
  ...shared,
  entryPoints: [path.join(SRC, 'cli', 'raft-status-fast.ts')],
  outfile: FAST_OUT,
  plugins: [importMetaUrlAsInDist],
});
// The point of this bundle is to skip oclif: an import that drags it in fails the build here.
const fastInputs = Object.keys(fast.metafile.inputs).filter((f) => /node_modules[\\/]@oclif[\\/]/.test(f));
if (fastInputs.length > 0) throw new Error(`${FAST_OUT} must not contain oclif, but bundles ${fastInputs[0]}: import that module's facts, not its flags`);

for (const out of [OUT, FAST_OUT]) {
  // A build id on the first line keys the code cache: V8 itself only checks the source length.
  const code = readFileSync(out, 'utf8');
  const buildId = createHash('sha256').update(code).digest('hex').slice(0, 16);
  writeFileSync(out, `// hactl-build ${buildId}\n${code}`);
}
// Code caches of the previous build are misses now (build id); remove them rather than let them pile up.
for (const f of readdirSync(path.dirname(OUT))) if (/^(hactl|raft-status)\.cjs\..*cache$/.test(f)) rmSync(path.join(path.dirname(OUT), f), { force: true });

if (process.argv.includes('--meta')) {
  const weights = new Map();
  for (const [file, { bytesInOutput }] of Object.entries(result.metafile.outputs[path.relative(process.cwd(), OUT)]?.inputs ?? {})) {
    const key = file.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)?.[1] ?? file.split('/').slice(0, 2).join('/');
    weights.set(key, (weights.get(key) ?? 0) + bytesInOutput);
  }
  for (const [k, v] of [...weights].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stdout.write(`${String(v).padStart(9)} ${k}\n`);
}

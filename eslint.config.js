import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers of DESIGN.md's table, enforced (issue 18): which of our top-level folders each folder
 * of src/ may import. A layer may always import itself and the shared root files (src/logger.ts,
 * log-format.ts, log-file.ts). Import cycles are checked by scripts/check-cycles.mjs (npm run lint).
 */
const LAYERS = ['raft', 'dcs', 'postgres', 'config', 'protocol', 'agent', 'client', 'cli', 'commands', 'demo'];
const MAY_IMPORT = {
  raft: [],
  dcs: ['raft'],
  postgres: [],
  config: [],
  protocol: [],
  agent: ['dcs', 'postgres', 'config', 'protocol'],
  // The Raft admin client and `hactl remove` (raft-store.ts) use the Raft transport and the cluster key layout.
  client: ['config', 'protocol', 'raft', 'dcs'],
  // Rendering of `hactl raft status` (the admin protocol's types) and the CLI logger's Logger type.
  cli: ['client', 'raft'],
  commands: LAYERS,
  demo: LAYERS,
};

/** A relative import specifier that reaches folder `name` (`../dcs/index.js`, `../../postgres/x.js`). */
const reaches = (names) => `(^|/)(${names.join('|')})/`;

function layerPattern(layer) {
  const allowed = MAY_IMPORT[layer];
  const forbidden = LAYERS.filter((l) => l !== layer && !allowed.includes(l));
  if (forbidden.length === 0) return [];
  const may = allowed.length ? allowed.map((l) => `src/${l}`).join(', ') : 'nothing of ours';
  return [{ regex: reaches(forbidden), message: `DESIGN.md layers: src/${layer} may import ${may} only.` }];
}

const restrict = (patterns) => (patterns.length === 0 ? 'off' : ['error', { patterns }]);

const layerRules = LAYERS.map((layer) => ({ files: [`src/${layer}/**/*.ts`], rules: { 'no-restricted-imports': restrict(layerPattern(layer)) } }));

/**
 * The pure functional core: the Raft state machine and the HA decision (decide and what it reads).
 * No I/O: no node: modules, no PostgreSQL, no REST, no watchdog or fence, no logger, and never the
 * imperative shell that calls it. (These rules replace the layer's for those files, so they repeat it.)
 */
const PURE_PATTERNS = [
  { regex: '^node:', message: 'Pure core (decide / raft core): no I/O modules; take what you need as input.' },
  { regex: reaches(['postgres', 'client', 'protocol', 'fence', 'watchdog', 'api', 'storage', 'transport']), message: 'Pure core (decide / raft core): no PostgreSQL, REST, watchdog, fence, storage or transport.' },
  { regex: '(^|/)(logger|executor|loop|inputs|long-actions|lease-keeper|postgres-control|node)\\.js$', message: 'Pure core (decide / raft core): the imperative shell calls the core, never the other way round.' },
];
const PURE_HA = ['bootstrap', 'candidate-facts', 'config', 'context', 'decide', 'failover-eligibility', 'follow', 'leader', 'leader-race', 'lease-loss', 'race-explanation', 'recover', 'switchover', 'sync', 'sync-names', 'sync-race', 'types'];
const pureRules = [
  { files: ['src/raft/core/**/*.ts'], rules: { 'no-restricted-imports': restrict([...layerPattern('raft'), ...PURE_PATTERNS]) } },
  { files: PURE_HA.map((f) => `src/agent/ha/${f}.ts`), rules: { 'no-restricted-imports': restrict([...layerPattern('agent'), ...PURE_PATTERNS]) } },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'oclif.manifest.json'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...layerRules,
  ...pureRules,
);

/**
 * Environment overrides: Patroni's PATRONI_* variables (docs/ENVIRONMENT.rst of patroni/patroni) and the
 * same names under our HACTL_* prefix; HACTL_* wins when both are set. Patroni's names are systematic —
 * PATRONI_<SECTION>_<KEY>, PATRONI_<SUPERUSER|REPLICATION|REWIND>_<KEY> for the roles — so they are
 * mapped by rule rather than listed. Whether a key is implemented is key-support.ts's call: a variable
 * whose key is not (or that names nothing) is reported, never silently dropped.
 */
import { ruleFor } from './key-support.js';

type ValueKind = 'string' | 'list';

/** Variables that are not simply `<section>_<key>`. */
const SPECIAL: Record<string, string[]> = {
  NAME: ['name'],
  SCOPE: ['scope'],
  NAMESPACE: ['namespace'],
  THREAD_POOL_SIZE: ['thread_pool_size'],
  THREAD_STACK_SIZE: ['thread_stack_size'],
  RESTAPI_USERNAME: ['restapi', 'authentication', 'username'],
  RESTAPI_PASSWORD: ['restapi', 'authentication', 'password'],
  CTL_USERNAME: ['ctl', 'authentication', 'username'],
  CTL_PASSWORD: ['ctl', 'authentication', 'password'],
  RETRIABLE_HTTP_CODES: ['kubernetes', 'retriable_http_codes'],
};

/** Longest first: ETCD3 before ETCD. */
const SECTIONS = ['POSTGRESQL', 'KUBERNETES', 'ZOOKEEPER', 'EXHIBITOR', 'RESTAPI', 'CONSUL', 'ETCD3', 'CITUS', 'ETCD', 'RAFT', 'LOG', 'CTL'];
const ROLES = ['SUPERUSER', 'REPLICATION', 'REWIND'];
const LISTS = new Set(['raft.partner_addrs', 'restapi.allowlist', 'ctl.api_urls']);

/** The config path a PATRONI_/HACTL_ suffix names, or null. */
export function envPath(suffix: string): string[] | null {
  if (SPECIAL[suffix]) return SPECIAL[suffix];
  for (const role of ROLES) {
    if (suffix.startsWith(`${role}_`)) return ['postgresql', 'authentication', role.toLowerCase(), suffix.slice(role.length + 1).toLowerCase()];
  }
  if (suffix.startsWith('POSTGRESQL_BIN_') && suffix !== 'POSTGRESQL_BIN_DIR') return ['postgresql', 'bin_name', suffix.slice('POSTGRESQL_BIN_'.length).toLowerCase()];
  for (const section of SECTIONS) {
    if (suffix.startsWith(`${section}_`) && suffix.length > section.length + 1) return [section.toLowerCase(), suffix.slice(section.length + 1).toLowerCase()];
  }
  return null;
}

export interface EnvOverride {
  variable: string;
  path: string[];
  value: string | string[];
}

export interface EnvReport {
  overrides: EnvOverride[];
  /** Variables set but not applied, one line each naming the variable and why. */
  warnings: string[];
}

/** Patroni writes lists as `'a:1','b:2'` or `[a:1, b:2]`; accept both and plain `a:1,b:2`. */
export function parseEnvList(raw: string): string[] {
  const inner = raw.trim().replace(/^\[/, '').replace(/\]$/, '');
  return inner
    .split(',')
    .map((s) => s.trim().replace(/^['"]|['"]$/g, ''))
    .filter((s) => s.length > 0);
}

/** Names that are not configuration keys: where the file is, and Patroni's whole-config variable. */
const NOT_KEYS = new Set(['CONFIG', 'CONFIG_FILE', 'CONFIGURATION']);

/** Every PATRONI_ or HACTL_ variable of `env`: applied, or reported with the reason. */
export function envReport(env: NodeJS.ProcessEnv): EnvReport {
  const report: EnvReport = { overrides: [], warnings: [] };
  const seen = new Set<string>();
  for (const prefix of ['HACTL_', 'PATRONI_']) {
    for (const [variable, raw] of Object.entries(env)) {
      if (!variable.startsWith(prefix) || raw === undefined || raw === '') continue;
      const suffix = variable.slice(prefix.length);
      if (NOT_KEYS.has(suffix)) {
        if (variable === 'PATRONI_CONFIGURATION') report.warnings.push(`${variable} is ignored: hactl reads its configuration from the file given with -c`);
        continue;
      }
      const path = envPath(suffix);
      // HACTL_ also names test and tool knobs that are no configuration; only Patroni's prefix is all config.
      if (!path) {
        if (prefix === 'PATRONI_') report.warnings.push(`${variable} is not a configuration variable hactl knows (ignored)`);
        continue;
      }
      const dotted = path.join('.');
      if (seen.has(dotted)) continue; // HACTL_ came first and wins
      seen.add(dotted);
      const rule = ruleFor(path);
      if (!rule || rule.support !== 'ok') {
        const why = !rule ? 'not a key hactl knows' : rule.support === 'later' ? `not implemented yet: ${rule.note}` : rule.support === 'refused' ? `not supported: ${rule.note}` : rule.note;
        report.warnings.push(`${variable} (${dotted}) is ignored: ${why}`);
        continue;
      }
      const kind: ValueKind = LISTS.has(dotted) ? 'list' : 'string';
      report.overrides.push({ variable, path, value: kind === 'list' ? parseEnvList(raw) : raw });
    }
  }
  return report;
}

export function envOverrides(env: NodeJS.ProcessEnv): EnvOverride[] {
  return envReport(env).overrides;
}

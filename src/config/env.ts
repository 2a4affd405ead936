/**
 * Environment overrides, Patroni's PATRONI_* variables under our HACTL_* prefix. PATRONI_* names are
 * accepted too so an existing deployment's unit file keeps working; HACTL_* wins when both are set.
 */

type ValueKind = 'string' | 'list';

interface Override {
  suffix: string;
  path: string[];
  kind: ValueKind;
}

const OVERRIDES: Override[] = [
  ['NAME', ['name']],
  ['SCOPE', ['scope']],
  ['NAMESPACE', ['namespace']],
  ['LOG_LEVEL', ['log', 'level']],
  ['RESTAPI_LISTEN', ['restapi', 'listen']],
  ['RESTAPI_CONNECT_ADDRESS', ['restapi', 'connect_address']],
  ['RESTAPI_USERNAME', ['restapi', 'authentication', 'username']],
  ['RESTAPI_PASSWORD', ['restapi', 'authentication', 'password']],
  ['CTL_USERNAME', ['ctl', 'authentication', 'username']],
  ['CTL_PASSWORD', ['ctl', 'authentication', 'password']],
  ['POSTGRESQL_LISTEN', ['postgresql', 'listen']],
  ['POSTGRESQL_CONNECT_ADDRESS', ['postgresql', 'connect_address']],
  ['POSTGRESQL_DATA_DIR', ['postgresql', 'data_dir']],
  ['POSTGRESQL_BIN_DIR', ['postgresql', 'bin_dir']],
  ['POSTGRESQL_CONFIG_DIR', ['postgresql', 'config_dir']],
  ['POSTGRESQL_PGPASS', ['postgresql', 'pgpass']],
  ['POSTGRESQL_OS_USER', ['postgresql', 'os_user']],
  ['SUPERUSER_USERNAME', ['postgresql', 'authentication', 'superuser', 'username']],
  ['SUPERUSER_PASSWORD', ['postgresql', 'authentication', 'superuser', 'password']],
  ['REPLICATION_USERNAME', ['postgresql', 'authentication', 'replication', 'username']],
  ['REPLICATION_PASSWORD', ['postgresql', 'authentication', 'replication', 'password']],
  ['REWIND_USERNAME', ['postgresql', 'authentication', 'rewind', 'username']],
  ['REWIND_PASSWORD', ['postgresql', 'authentication', 'rewind', 'password']],
  ['RAFT_SELF_ADDR', ['raft', 'self_addr']],
  ['RAFT_BIND_ADDR', ['raft', 'bind_addr']],
  ['RAFT_DATA_DIR', ['raft', 'data_dir']],
  ['RAFT_PASSWORD', ['raft', 'password']],
].map(([suffix, path]) => ({ suffix: suffix as string, path: path as string[], kind: 'string' as ValueKind }));

OVERRIDES.push({ suffix: 'RAFT_PARTNER_ADDRS', path: ['raft', 'partner_addrs'], kind: 'list' });

export interface EnvOverride {
  variable: string;
  path: string[];
  value: string | string[];
}

/** Patroni writes lists as `'a:1','b:2'` or `[a:1, b:2]`; accept both and plain `a:1,b:2`. */
export function parseEnvList(raw: string): string[] {
  const inner = raw.trim().replace(/^\[/, '').replace(/\]$/, '');
  return inner
    .split(',')
    .map((s) => s.trim().replace(/^['"]|['"]$/g, ''))
    .filter((s) => s.length > 0);
}

export function envOverrides(env: NodeJS.ProcessEnv): EnvOverride[] {
  const out: EnvOverride[] = [];
  for (const o of OVERRIDES) {
    for (const prefix of ['HACTL_', 'PATRONI_']) {
      const variable = prefix + o.suffix;
      const raw = env[variable];
      if (raw === undefined || raw === '') continue;
      out.push({ variable, path: o.path, value: o.kind === 'list' ? parseEnvList(raw) : raw });
      break;
    }
  }
  return out;
}

/**
 * What hactl does with every key of Patroni's configuration (3.x and 4.x: docs/yaml_configuration.rst,
 * patroni/validator.py and patroni/config.py of patroni/patroni), so that no key is silently ignored:
 * - `ok`      implemented;
 * - `later`   accepted with a WARNING: not implemented yet, planned (standby cluster, failsafe, slot
 *             keys); the part that
 *             implements one flips it to `ok` here;
 * - `ignored` accepted with a WARNING: has no meaning for hactl (a Python thread pool, say);
 * - `refused` the agent does not start: running on would be wrong (another DCS, say).
 * A key found in none of these is unknown: WARNING with file:line and a "did you mean".
 * man/ha.yml.5 ("KEY SUPPORT") lists the same table; test/config/key-support.test.ts keeps them equal.
 *
 * Patterns are dotted paths; `*` matches one key, a trailing `**` any subtree (free-form maps such as
 * `parameters` or custom tags).
 */

export type KeySupport = 'ok' | 'later' | 'ignored' | 'refused';

export interface KeyRule {
  pattern: string;
  support: KeySupport;
  /** For `later` / `ignored` / `refused`: what happens instead, shown after the key in the warning. */
  note?: string;
}

const AUTH_OK = ['username', 'password', 'sslmode', 'sslkey', 'sslcert', 'sslrootcert', 'channel_binding', 'gssencmode'];
const AUTH_IGNORED = ['sslpassword', 'sslcrl', 'sslcrldir', 'sslnegotiation'];
const OTHER_DCS = ['etcd', 'consul', 'zookeeper', 'exhibitor', 'kubernetes'];
const PYTHON_ONLY = 'tunes the Python implementation; hactl has no equivalent';

function rules(): KeyRule[] {
  const r: KeyRule[] = [];
  const ok = (...patterns: string[]) => patterns.forEach((pattern) => r.push({ pattern, support: 'ok' }));
  const later = (note: string, ...patterns: string[]) => patterns.forEach((pattern) => r.push({ pattern, support: 'later', note }));
  const ignored = (note: string, ...patterns: string[]) => patterns.forEach((pattern) => r.push({ pattern, support: 'ignored', note }));
  const refused = (note: string, ...patterns: string[]) => patterns.forEach((pattern) => r.push({ pattern, support: 'refused', note }));

  ok('scope', 'namespace', 'name');
  ignored(PYTHON_ONLY, 'thread_pool_size', 'thread_stack_size');

  ok('log', 'log.level');
  ok('log.type', 'log.format', 'log.dateformat', 'log.static_fields.**', 'log.dir', 'log.file_num', 'log.file_size', 'log.mode');
  ignored(PYTHON_ONLY, 'log.traceback_level', 'log.max_queue_size', 'log.loggers.**');
  ok('log.deduplicate_heartbeat_logs');

  ok('restapi', 'restapi.listen', 'restapi.connect_address', 'restapi.authentication', 'restapi.authentication.username', 'restapi.authentication.password');
  ok('restapi.certfile', 'restapi.keyfile', 'restapi.keyfile_password', 'restapi.cafile', 'restapi.ciphers', 'restapi.verify_client', 'restapi.allowlist', 'restapi.allowlist_include_members', 'restapi.http_extra_headers.**', 'restapi.https_extra_headers.**', 'restapi.server_tokens');
  ok('restapi.allow_unauthenticated_unsafe', 'restapi.max_connections', 'restapi.max_connections_per_address'); // hactl
  ignored(PYTHON_ONLY, 'restapi.thread_pool_size', 'restapi.request_queue_size');

  ok('ctl', 'ctl.authentication', 'ctl.authentication.username', 'ctl.authentication.password', 'ctl.insecure', 'ctl.cacert', 'ctl.certfile', 'ctl.keyfile', 'ctl.keyfile_password');
  ok('ctl.api_urls'); // hactl: several agents for the CLI to try

  ok('raft', 'raft.self_addr', 'raft.partner_addrs', 'raft.bind_addr', 'raft.data_dir', 'raft.password');
  ok('raft.allow_unauthenticated'); // hactl: no Raft password on purpose
  ignored('the agent\'s Raft member uses its built-in timing', 'raft.min_timeout', 'raft.max_timeout', 'raft.connection_timeout', 'raft.append_entries_period', 'raft.connection_retry_time', 'raft.leader_fallback_timeout');
  // The etcd3 section checks its own keys and refuses the ones it cannot honour (src/dcs/etcd3-section.ts).
  ok('etcd3', 'etcd3.**');
  refused('hactl keeps its cluster state in its embedded Raft store (raft:) or in etcd v3 (etcd3:)', ...OTHER_DCS.map((d) => `${d}.**`), ...OTHER_DCS);
  refused('Citus clusters are not supported', 'citus', 'citus.**');

  ok('bootstrap', 'bootstrap.dcs', 'bootstrap.initdb', 'bootstrap.pg_hba', 'bootstrap.users', 'bootstrap.users.*', 'bootstrap.users.*.password', 'bootstrap.users.*.options', 'bootstrap.post_bootstrap', 'bootstrap.post_init');
  ok('bootstrap.method');
  dynamicRules('bootstrap.dcs', ok, later, ignored);

  ok('postgresql', 'postgresql.listen', 'postgresql.connect_address', 'postgresql.data_dir', 'postgresql.bin_dir', 'postgresql.config_dir', 'postgresql.pgpass');
  ok('postgresql.authentication', ...['superuser', 'replication', 'rewind'].flatMap((u) => [`postgresql.authentication.${u}`, ...AUTH_OK.map((k) => `postgresql.authentication.${u}.${k}`)]));
  ignored('not passed to libpq yet', ...['superuser', 'replication', 'rewind'].flatMap((u) => AUTH_IGNORED.map((k) => `postgresql.authentication.${u}.${k}`)));
  ok('postgresql.parameters.**', 'postgresql.pg_hba', 'postgresql.pg_ctl_timeout', 'postgresql.use_pg_rewind', 'postgresql.rewind', 'postgresql.basebackup');
  ok('postgresql.remove_data_directory_on_rewind_failure', 'postgresql.remove_data_directory_on_diverged_timelines', 'postgresql.use_unix_socket', 'postgresql.use_unix_socket_repl');
  ok('postgresql.os_user'); // hactl: who runs PostgreSQL when the agent runs as root
  ok('postgresql.create_replica_methods');
  ok('postgresql.callbacks', 'postgresql.callbacks.on_start', 'postgresql.callbacks.on_stop', 'postgresql.callbacks.on_restart', 'postgresql.callbacks.on_reload', 'postgresql.callbacks.on_role_change', 'postgresql.pre_promote', 'postgresql.before_stop');
  ok('postgresql.recovery_conf', 'postgresql.recovery_conf.**');
  later('custom replica methods are not run yet: replicas are cloned with pg_basebackup', 'postgresql.replica_method', 'postgresql.replica_method.**');
  ok('postgresql.pg_ident');
  ignored('role-specific settings are not applied: use parameters / pg_hba', 'postgresql.parameters_primary.**', 'postgresql.parameters_replica.**', 'postgresql.parameters_standby_leader.**', 'postgresql.pg_hba_primary', 'postgresql.pg_hba_replica', 'postgresql.pg_hba_standby_leader', 'postgresql.pg_ident_primary', 'postgresql.pg_ident_replica', 'postgresql.pg_ident_standby_leader');
  ignored('hactl writes postgresql.conf itself', 'postgresql.custom_conf');
  ignored('not published in the member key', 'postgresql.proxy_address');
  ignored('binaries keep their standard names in bin_dir', 'postgresql.bin_name', 'postgresql.bin_name.*');
  ignored('Kerberos service name is not set', 'postgresql.krbsrvname');

  ok('watchdog', 'watchdog.mode', 'watchdog.device', 'watchdog.safety_margin', 'watchdog.driver');
  ok('fence', 'fence.mode', 'fence.safety_margin', 'fence.dir', 'fence.record_file', 'fence.on_agent_death'); // hactl: self-fencing

  // Patroni publishes any other tag as is; so does hactl.
  ok('tags', 'tags.**');
  return r;
}

/** Keys of the dynamic configuration (`bootstrap.dcs`, the `config` key, PATCH /config). */
function dynamicRules(
  prefix: string,
  ok: (...p: string[]) => void,
  later: (note: string, ...p: string[]) => void,
  ignored: (note: string, ...p: string[]) => void,
): void {
  const p = (k: string) => `${prefix}.${k}`;
  ok(...['ttl', 'loop_wait', 'retry_timeout', 'maximum_lag_on_failover', 'maximum_lag_on_syncnode', 'primary_start_timeout', 'synchronous_mode', 'synchronous_mode_strict', 'synchronous_node_count', 'check_timeline', 'pause'].map(p));
  ok(...['postgresql', 'postgresql.use_pg_rewind', 'postgresql.use_slots', 'postgresql.parameters.**', 'postgresql.pg_hba'].map(p));
  ok(...['slots', 'slots.*', 'slots.*.type', 'slots.*.database', 'slots.*.plugin', 'slots.*.cluster_type'].map(p));
  ok(...['ignore_slots', 'ignore_slots.*', 'ignore_slots.*.name', 'ignore_slots.*.type', 'ignore_slots.*.database', 'ignore_slots.*.plugin', 'member_slots_ttl'].map(p));
  ok(p('master_start_timeout')); // Patroni's older name, read when primary_start_timeout is absent
  ok(p('primary_stop_timeout'), p('master_stop_timeout')); // the latter: Patroni's older name, read when the former is absent
  ok(p('failsafe_mode'));
  ok(p('primary_race_backoff')); // Patroni master (after 4.0)
  ok(...['standby_cluster', 'standby_cluster.host', 'standby_cluster.port', 'standby_cluster.primary_slot_name', 'standby_cluster.restore_command'].map(p));
  ok(...['standby_cluster.archive_cleanup_command', 'standby_cluster.recovery_min_apply_delay', 'standby_cluster.create_replica_methods', 'standby_cluster.create_replica_methods.*'].map(p));
  ok(p('postgresql.recovery_conf'), p('postgresql.recovery_conf.**'));
  ok(p('postgresql.pg_ctl_timeout'), p('postgresql.rewind'), p('postgresql.basebackup'));
  ok(p('postgresql.pg_ident'));
  ignored('role-specific settings are not applied: use parameters / pg_hba', p('postgresql.parameters_primary.**'), p('postgresql.parameters_replica.**'), p('postgresql.parameters_standby_leader.**'));
}

export const KEY_RULES: readonly KeyRule[] = rules();

function matches(pattern: string, path: readonly string[]): boolean {
  const parts = pattern.split('.');
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] === '**') return path.length >= i;
    if (i >= path.length) return false;
    if (parts[i] !== '*' && parts[i] !== path[i]) return false;
  }
  return parts.length === path.length;
}

/** The rule for a key path, most specific first (an exact pattern beats a wildcard). */
export function ruleFor(path: readonly string[]): KeyRule | null {
  let best: KeyRule | null = null;
  let bestScore = -1;
  for (const rule of KEY_RULES) {
    if (!matches(rule.pattern, path)) continue;
    const score = rule.pattern.split('.').filter((s) => s !== '*' && s !== '**').length * 2 - (rule.pattern.endsWith('**') ? 1 : 0);
    if (score > bestScore) {
      best = rule;
      bestScore = score;
    }
  }
  return best;
}

/** Known key names directly under `parent` (for "did you mean"). */
export function knownChildren(parent: readonly string[]): string[] {
  const out = new Set<string>();
  for (const rule of KEY_RULES) {
    const parts = rule.pattern.split('.');
    if (parts.length <= parent.length) continue;
    if (parent.every((p, i) => parts[i] === '*' || parts[i] === p) && parts[parent.length] !== '*' && parts[parent.length] !== '**') out.add(parts[parent.length]!);
  }
  return [...out];
}

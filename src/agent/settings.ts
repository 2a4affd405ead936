/**
 * From the loaded config file (Patroni's YAML keys) to what the agent's layers take: the
 * PostgreSQL layer's options, the bootstrap options, the member's URLs, and the effective dynamic
 * configuration (the cluster's `config` key when present and valid, else `bootstrap.dcs`).
 */
import { adjustTiming, dynamicConfigSchema, type DynamicConfig, type HactlConfig } from '../config/index.js';
import type { ClusterView } from '../dcs/index.js';
import type { BootstrapOptions, CommandLineOptions, CustomBootstrap, ParameterValue, PostgresOptions, ReplicaMethodOptions } from '../postgres/index.js';

/** Parameters Patroni takes only from the dynamic config (they must match on every member). */
const CLUSTER_WIDE = new Set([
  'max_connections',
  'max_locks_per_transaction',
  'max_worker_processes',
  'max_prepared_transactions',
  'wal_level',
  'track_commit_timestamp',
  'max_wal_senders',
  'max_replication_slots',
  'wal_keep_size',
  'wal_log_hints',
]);

type Params = Record<string, ParameterValue>;

/** Effective PostgreSQL parameters: dynamic ones, overridden by local ones except the cluster-wide settings. */
export function effectiveParameters(local: HactlConfig, dynamic: DynamicConfig): Params {
  const fromDynamic = (dynamic.postgresql.parameters ?? {}) as Params;
  const out: Params = { ...fromDynamic };
  for (const [k, v] of Object.entries(local.postgresql.parameters)) {
    if (CLUSTER_WIDE.has(k) && k in fromDynamic) continue;
    out[k] = v;
  }
  return out;
}

/**
 * Patroni enforces hot_standby_feedback on a member that keeps permanent logical slots as a replica
 * (src/agent/ha/slot-wanted.ts): without it the primary may vacuum catalog rows the replica's copy of a
 * slot still needs, and the slot is unusable once the replica is promoted. On a primary it has no effect.
 */
function withSlotFeedback(params: Params, local: HactlConfig, dynamic: DynamicConfig): Params {
  if (!useSlots(dynamic) || local.tags.nofailover === true || local.tags.nostream === true) return params;
  const logical = Object.values((dynamic.slots ?? {}) as Record<string, unknown>).some((spec) => {
    const s = spec as { type?: string; database?: string; plugin?: string } | null;
    return !!s && typeof s === 'object' && (s.type ?? 'logical') === 'logical' && !!s.database && !!s.plugin;
  });
  return logical ? { ...params, hot_standby_feedback: 'on' } : params;
}

export function useSlots(dynamic: DynamicConfig): boolean {
  return dynamic.postgresql.use_slots ?? true;
}

export function usePgRewind(local: HactlConfig, dynamic: DynamicConfig): boolean {
  return dynamic.postgresql.use_pg_rewind ?? local.postgresql.use_pg_rewind ?? false;
}

/** The PostgreSQL layer's options for this member (snake_case keys map one to one). */
export function postgresOptions(local: HactlConfig, dynamic: DynamicConfig): PostgresOptions {
  const pg = local.postgresql;
  const extra = pg as Record<string, unknown>;
  const options: PostgresOptions = {
    name: local.name,
    scope: local.scope,
    data_dir: pg.data_dir,
    config_dir: pg.config_dir,
    bin_dir: pg.bin_dir,
    listen: pg.listen,
    connect_address: pg.connect_address,
    pgpass: pg.pgpass,
    authentication: pg.authentication,
    parameters: withSlotFeedback(effectiveParameters(local, dynamic), local, dynamic),
    pg_hba: (dynamic.postgresql.pg_hba as string[] | undefined) ?? pg.pg_hba ?? local.bootstrap.pg_hba,
    // As pg_hba: the dynamic configuration's lines win over the file's (Patroni's pg_ident).
    pg_ident: (dynamic.postgresql.pg_ident as string[] | undefined) ?? pg.pg_ident,
    use_pg_rewind: usePgRewind(local, dynamic),
    use_slots: useSlots(dynamic),
    basebackup: pg.basebackup as CommandLineOptions | undefined,
    create_replica_methods: pg.create_replica_methods,
    remove_data_directory_on_rewind_failure: pg.remove_data_directory_on_rewind_failure,
    remove_data_directory_on_diverged_timelines: pg.remove_data_directory_on_diverged_timelines,
    pg_ctl_timeout: pg.pg_ctl_timeout,
    use_unix_socket: pg.use_unix_socket,
    use_unix_socket_repl: pg.use_unix_socket_repl,
    osUser: pg.os_user,
  };
  if (extra.rewind !== undefined) options.rewind = extra.rewind as CommandLineOptions;
  const methods = replicaMethods(pg.create_replica_methods, extra);
  if (methods) options.replica_methods = methods;
  // Patroni merges the dynamic postgresql section under the local one: the local recovery_conf wins whole.
  const recovery = (extra.recovery_conf ?? (dynamic.postgresql as Record<string, unknown>).recovery_conf) as PostgresOptions['recovery_conf'] | undefined;
  if (recovery) options.recovery_conf = recovery;
  if (local.tags.nostream === true) options.nostream = true;
  if (pg.callbacks !== undefined) options.callbacks = pg.callbacks;
  if (pg.pre_promote !== undefined) options.pre_promote = pg.pre_promote;
  if (pg.before_stop !== undefined) options.before_stop = pg.before_stop;
  return options;
}

/**
 * The `postgresql.<method>` section of each custom method in create_replica_methods. As in Patroni, a
 * method without a section (or without `command`) runs the method's name as the command.
 */
function replicaMethods(names: readonly string[], sections: Record<string, unknown>): Record<string, ReplicaMethodOptions> | null {
  const out: Record<string, ReplicaMethodOptions> = {};
  for (const name of names.filter((n) => n !== 'basebackup')) {
    const section = sections[name];
    const spec = section && typeof section === 'object' ? (section as Record<string, ReplicaMethodOptions[string]>) : {};
    out[name] = { ...spec, command: typeof spec.command === 'string' ? spec.command : name };
  }
  return Object.keys(out).length > 0 ? out : null;
}

export function bootstrapOptions(local: HactlConfig): BootstrapOptions {
  const b = local.bootstrap;
  const named = (b as Record<string, unknown>).method;
  const method = typeof named === 'string' && named !== 'initdb' ? named : null;
  const section = method ? (b as Record<string, unknown>)[method] : undefined;
  const spec = section && typeof section === 'object' ? (section as Partial<CustomBootstrap>) : {};
  return {
    // As for replica methods, Patroni runs the method's name when its section has no command.
    ...(method ? { method: { ...spec, name: method, command: typeof spec.command === 'string' ? spec.command : method } } : {}),
    initdb: b.initdb as CommandLineOptions | undefined,
    users: b.users,
    pg_hba: local.postgresql.pg_hba ?? b.pg_hba,
    post_bootstrap: b.post_bootstrap,
    post_init: b.post_init,
  };
}

/** The dynamic config in force: the `config` key when it validates, else the file's `bootstrap.dcs`; timing rule applied. */
export function effectiveDynamic(local: HactlConfig, view: ClusterView | null): { dynamic: DynamicConfig; warning: string | null } {
  let dynamic = local.bootstrap.dcs;
  if (view?.config) {
    const parsed = dynamicConfigSchema.safeParse(view.config.data);
    if (parsed.success) dynamic = parsed.data;
  }
  const { timing, warning } = adjustTiming({ ttl: dynamic.ttl, loop_wait: dynamic.loop_wait, retry_timeout: dynamic.retry_timeout });
  return { dynamic: { ...dynamic, ...timing }, warning };
}

/** `postgres://host:port/postgres`, Patroni's conn_url. */
export function connUrl(local: HactlConfig): string {
  return `postgres://${local.postgresql.connect_address}/postgres`;
}

/** Patroni's api_url: `http(s)://connect_address/patroni`. */
export function apiUrl(local: HactlConfig): string {
  const tls = local.restapi.certfile !== undefined;
  return `${tls ? 'https' : 'http'}://${local.restapi.connect_address}/patroni`;
}

/** host and port from a member's conn_url; null when absent or unparsable. */
export function addressOfConnUrl(url: string | null | undefined): { host: string; port: number } | null {
  if (!url) return null;
  try {
    const u = new URL(url);
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = u.port === '' ? 5432 : Number(u.port);
    return host ? { host, port } : null;
  } catch {
    // Not a URL: the member publishes no usable address (callers say so).
    return null;
  }
}

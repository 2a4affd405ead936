// Types of the PostgreSQL control layer. `PostgresOptions` / `BootstrapOptions` mirror the `postgresql:` and
// `bootstrap:` sections of Patroni's YAML (docs/patroni-behaviour.md 3.3): Patroni's keys keep their snake_case
// names so the config layer maps YAML onto them one to one; keys hactl adds are camelCase.

/** A setting value as YAML gives it; rendered into postgresql.conf by conf.ts. */
export type ParameterValue = string | number | boolean;

/** `authentication.<kind>`: a role we connect as. Passwords go to the pgpass file, never to a command line. */
export interface AuthUser {
  username: string;
  password?: string;
  sslmode?: string;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
  channel_binding?: string;
  gssencmode?: string;
}

export interface PostgresAuthentication {
  superuser: AuthUser;
  replication: AuthUser;
  /** Used by pg_rewind; the superuser when absent. */
  rewind?: AuthUser;
}

/**
 * Options given as a list of flags and single-key maps (`bootstrap.initdb`, `postgresql.basebackup`):
 * `['data-checksums', {encoding: 'UTF8'}]` → `--data-checksums --encoding=UTF8`. A plain map is accepted too.
 */
export type CommandLineOptions =
  | Array<string | Record<string, ParameterValue>>
  | Record<string, ParameterValue>;

/** A custom replica creation method (`postgresql.<method>` in Patroni's YAML). */
export interface ReplicaMethodOptions {
  command: string;
  keep_data?: boolean;
  no_params?: boolean;
  /** Any truthy value (Python's bool(), as Patroni reads it): `true`, `1`, `'1'`. */
  no_leader?: ParameterValue;
  /** Older name of no_leader. */
  no_master?: ParameterValue;
  /** Any further key is passed to the command as `--key=value`. */
  [option: string]: ParameterValue | undefined;
}

/** `postgresql.callbacks`: invoked as `<cmd> <action> <role> <scope>` (Patroni's convention). */
export interface PostgresCallbacks {
  on_start?: string;
  on_stop?: string;
  on_restart?: string;
  on_reload?: string;
  on_role_change?: string;
}

export interface PostgresOptions {
  /** Member name: application_name in primary_conninfo, slot name source. */
  name: string;
  /** Cluster name (`scope`); becomes cluster_name when parameters do not set it. */
  scope?: string;
  data_dir: string;
  /** Where postgresql.conf / pg_hba.conf live; data_dir when absent. */
  config_dir?: string;
  bin_dir?: string;
  /** `host[,host...]:port` the server listens on. */
  listen: string;
  /** `host:port` other members use to reach this server. */
  connect_address?: string;
  /** pgpass file hactl writes (mode 0600, owned by the OS user); default `<data_dir>.pgpass`. */
  pgpass?: string;
  authentication: PostgresAuthentication;
  parameters?: Record<string, ParameterValue>;
  /** pg_hba.conf lines; when absent the file initdb wrote is left alone. */
  pg_hba?: string[];
  /** pg_ident.conf lines (user name maps); when absent the file initdb wrote is left alone. */
  pg_ident?: string[];
  use_pg_rewind?: boolean;
  /** Extra pg_rewind options (flags or key/value). */
  rewind?: CommandLineOptions;
  use_slots?: boolean;
  /** pg_basebackup options, e.g. `[{checkpoint: 'fast'}, {'max-rate': '100M'}]`. */
  basebackup?: CommandLineOptions;
  /** Ordered replica creation methods; `['basebackup']` when absent. */
  create_replica_methods?: string[];
  /** Custom replica methods by name (Patroni's `postgresql.<method>` sections). */
  replica_methods?: Record<string, ReplicaMethodOptions>;
  remove_data_directory_on_rewind_failure?: boolean;
  remove_data_directory_on_diverged_timelines?: boolean;
  callbacks?: PostgresCallbacks;
  /**
   * Recovery settings of a replica (Patroni's recovery_conf: restore_command, recovery_min_apply_delay,
   * archive_cleanup_command, …); recovery targets and the streaming settings hactl writes are left out.
   */
  recovery_conf?: Record<string, ParameterValue>;
  /** The nostream tag: no primary_conninfo; the replica recovers from the archive (restore_command) only. */
  nostream?: boolean;
  /** Run (and awaited) before a promotion; a non-zero exit cancels it (Patroni's pre_promote). */
  pre_promote?: string;
  /** Run (and awaited) before PostgreSQL is stopped (Patroni's before_stop). */
  before_stop?: string;
  /** Seconds pg_ctl waits for start/stop (Patroni's pg_ctl_timeout, default 60). */
  pg_ctl_timeout?: number;
  /**
   * Local superuser connections go over the unix socket instead of TCP to the first listen address
   * (Patroni's default is TCP, so a pg_hba with only `host` lines works).
   */
  use_unix_socket?: boolean;
  /** The same for local replication connections. */
  use_unix_socket_repl?: boolean;

  /** OS user the PostgreSQL binaries run as when hactl runs as root. Default 'postgres'. */
  osUser?: string;
  /**
   * Directory of the server's unix socket (unix_socket_directories). Default: the first entry of
   * `parameters.unix_socket_directories`, else `/var/run/postgresql`.
   */
  socketDir?: string;
  /** Server log file for `pg_ctl -l`; default `<data_dir>/log/postmaster.log`. */
  logFile?: string;
}

/** A role from `bootstrap.users` (removed from Patroni 4.0, kept here as the issue asks). */
export interface BootstrapUser {
  password?: string;
  /** Role options such as `createrole`, `createdb`, `superuser`, `replication`. */
  options?: string[];
}

/** `bootstrap.method: <name>` and its `bootstrap.<name>` section: a backup restored instead of initdb. */
export interface CustomBootstrap {
  name: string;
  command: string;
  /** Leave the recovery settings and signal files the command wrote (else removed). */
  keep_existing_recovery_conf?: boolean;
  /** No --scope / --datadir arguments. */
  no_params?: boolean;
  /** Recovery to run after the command (restore_command, recovery_target_*): the server recovers, then promotes. */
  recovery_conf?: Record<string, ParameterValue>;
  /** Any further key is passed as `--key=value`. */
  [option: string]: ParameterValue | Record<string, ParameterValue> | undefined;
}

export interface BootstrapOptions {
  /** A custom bootstrap method instead of initdb. */
  method?: CustomBootstrap;
  /** initdb options: flags (`data-checksums`) and maps (`encoding: UTF8`, `auth-host: scram-sha-256`). */
  initdb?: CommandLineOptions;
  users?: Record<string, BootstrapUser>;
  /** Legacy location of pg_hba lines; `postgresql.pg_hba` wins when both are set. */
  pg_hba?: string[];
  /** Command run once after bootstrap with the superuser connection URL as its last argument. */
  post_bootstrap?: string;
  /** Older name of post_bootstrap. */
  post_init?: string;
}

/** The PostgreSQL binaries hactl runs. */
export type PgBinaryName =
  | 'postgres'
  | 'pg_ctl'
  | 'initdb'
  | 'pg_controldata'
  | 'pg_basebackup'
  | 'pg_rewind'
  | 'pg_isready'
  | 'pg_waldump'
  | 'psql';

export interface PgBinaries {
  binDir: string;
  /** Full version as `postgres --version` prints it, e.g. `15.18`. */
  version: string;
  majorVersion: number;
  path(name: PgBinaryName): string;
}

/**
 * Who PostgreSQL binaries run as. When hactl runs as root this is the unprivileged OS user and `switchUser`
 * is true (spawn with uid/gid); otherwise it is hactl's own user and binaries run unchanged.
 */
export interface PgOsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  switchUser: boolean;
}

/** Everything the layer's operations need about one local PostgreSQL instance. */
export interface PgContext {
  options: PostgresOptions;
  binaries: PgBinaries;
  user: PgOsUser;
}

/** Replica-side settings written by writeConfiguration when the node follows a primary. */
export interface StandbyTarget {
  /** The primary (or cascade source) to stream from. */
  host: string;
  port: number;
  /** primary_slot_name; none when absent. */
  slotName?: string;
  /** Recovery settings that come with this upstream (a standby cluster's `standby_cluster` section). */
  restoreCommand?: string;
  archiveCleanupCommand?: string;
  recoveryMinApplyDelay?: string;
}

/** What writeConfiguration should make the node: a primary, or a standby following `primary` (or nothing). */
export type NodeRole =
  /** `recovery`: archive recovery first (custom bootstrap's recovery_conf; recovery.signal), then promotion. */
  | { role: 'primary'; recovery?: Record<string, ParameterValue> }
  | { role: 'replica'; primary: StandbyTarget | null; restoreCommand?: string };

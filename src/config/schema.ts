/**
 * The configuration file schema: Patroni's keys (a patroni.yml with a `raft:` section loads as is),
 * validated once at the boundary. Unknown keys are kept, not rejected, so that a Patroni file with
 * options we do not implement yet still starts; key-report.ts warns about each of them (file:line).
 */
import { z } from 'zod';

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'expected host:port, e.g. 10.0.0.1:5010');

const listenAddr = z
  .string()
  .regex(/^([^\s]+(,[^\s]+)*)?:\d{1,5}$/, 'expected host[,host...]:port, e.g. 0.0.0.0:5432');

const credentials = z
  .object({ username: z.string().min(1), password: z.string().optional() })
  .passthrough();

/** Patroni accepts initdb/basebackup options as `- flag` or `- key: value` items (or a plain map). */
const optionList = z.union([
  z.array(z.union([z.string(), z.record(z.union([z.string(), z.number(), z.boolean()]))])),
  z.record(z.union([z.string(), z.number(), z.boolean()])),
]);

const bool = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  const s = v.toLowerCase();
  if (['on', 'true', 'yes', '1'].includes(s)) return true;
  if (['off', 'false', 'no', '0'].includes(s)) return false;
  return v;
}, z.boolean());

const seconds = z.coerce.number().finite();

/** Patroni's level names in any case; WARN and FATAL are its aliases of WARNING and CRITICAL. */
const logLevel = z.preprocess(
  (v) => {
    if (typeof v !== 'string') return v;
    const s = v.trim().toUpperCase();
    return s === 'WARN' ? 'WARNING' : s === 'FATAL' ? 'CRITICAL' : s;
  },
  z.enum(['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL']),
);

export const postgresqlDynamicSchema = z
  .object({
    use_pg_rewind: bool.optional(),
    use_slots: bool.optional(),
    parameters: z.record(z.union([z.string(), z.number(), z.boolean()])).optional(),
    pg_hba: z.array(z.string()).optional(),
    pg_ident: z.array(z.string()).optional(),
    recovery_conf: z.record(z.unknown()).optional(),
  })
  .passthrough();

/**
 * Patroni's `standby_cluster` section: where the standby leader replicates from (a remote primary or
 * cascade, and/or a WAL archive). Patroni counts the section only when host, port or restore_command is set.
 */
export const standbyClusterSchema = z
  .object({
    host: z.string().min(1).optional(),
    port: z.coerce.number().int().min(1).max(65535).optional(),
    primary_slot_name: z.string().min(1).optional(),
    restore_command: z.string().min(1).optional(),
    archive_cleanup_command: z.string().min(1).optional(),
    recovery_min_apply_delay: z.union([z.string(), z.number()]).optional(),
    create_replica_methods: z.array(z.string().min(1)).optional(),
  })
  .passthrough();

const slotType = z.enum(['physical', 'logical']);
const permanentSlotSchema = z
  .object({
    type: slotType.optional(),
    database: z.string().min(1).optional(),
    plugin: z.string().min(1).optional(),
    /** Patroni: a physical slot only in a primary cluster, or only in a standby cluster. */
    cluster_type: z.enum(['primary', 'standby']).optional(),
  })
  .passthrough();
const ignoreSlotSchema = z
  .object({ name: z.string().optional(), type: slotType.optional(), database: z.string().optional(), plugin: z.string().optional() })
  .passthrough();

export const dynamicConfigSchema = z
  .object({
    ttl: seconds.positive().default(30),
    loop_wait: seconds.positive().default(10),
    retry_timeout: seconds.positive().default(10),
    maximum_lag_on_failover: z.coerce.number().int().min(0).default(1048576),
    maximum_lag_on_syncnode: z.coerce.number().int().min(-1).default(-1),
    // No defaults here (primaryStartTimeout / primaryStopTimeout below): the `config` key is written from
    // the parsed bootstrap.dcs, and a default stored there would hide a later PATCH of the older name.
    primary_start_timeout: seconds.min(0).optional(),
    master_start_timeout: seconds.min(0).optional(),
    primary_stop_timeout: seconds.min(0).optional(),
    master_stop_timeout: seconds.min(0).optional(),
    synchronous_mode: z.union([bool, z.literal('quorum')]).default(false),
    synchronous_mode_strict: bool.default(false),
    synchronous_node_count: z.coerce.number().int().min(1).default(1),
    check_timeline: bool.default(false),
    pause: bool.default(false),
    /** Patroni 3.0: a primary without the store goes on while every member accepts POST /failsafe (src/agent/ha/failsafe.ts). */
    failsafe_mode: bool.default(false),
    /**
     * Patroni master (after 4.0): seconds a replica whose WAL still moves postpones the leader race
     * (src/agent/ha/primary-race-backoff.ts); 0 or absent: off. No default, so `config` shows only what was set.
     */
    primary_race_backoff: seconds.min(0).optional(),
    postgresql: postgresqlDynamicSchema.default({}),
    /** Permanent slots: Patroni also takes an empty value (null, 0, '') for a physical slot. */
    slots: z.record(z.union([z.null(), z.literal(0), z.literal(''), permanentSlotSchema])).optional(),
    /** Slots the agent leaves alone (any field left out matches everything). */
    ignore_slots: z.array(ignoreSlotSchema).optional(),
    /** Patroni 4: how long a departed member's physical slot is kept (0: dropped with the member key). */
    member_slots_ttl: seconds.min(0).default(1800),
    /** null: PATCH /config's way of removing the section (promote-cluster). */
    standby_cluster: standbyClusterSchema.nullable().optional(),
  })
  .passthrough();

export const raftSchema = z
  .object({
    self_addr: hostPort.optional(),
    partner_addrs: z.array(hostPort).default([]),
    bind_addr: hostPort.optional(),
    data_dir: z.string().min(1).optional(),
    password: z.string().optional(),
    /** hactl: run the Raft port without a password on purpose (loopback demos and tests). */
    allow_unauthenticated: bool.default(false),
  })
  .passthrough();

/** Patroni's `etcd3:` section; src/dcs/etcd3-section.ts turns it into client options. */
export const etcd3Schema = z
  .object({
    host: hostPort.optional(),
    /** A list, or one comma-separated string as Patroni also accepts (`PATRONI_ETCD3_HOSTS`). */
    hosts: z
      .preprocess(
        (v) => (typeof v === 'string' ? v.split(',').map((h) => h.trim().replace(/^'(.*)'$/, '$1')).filter((h) => h !== '') : v),
        z.array(hostPort).min(1),
      )
      .optional(),
    protocol: z.enum(['http', 'https']).optional(),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    cacert: z.string().min(1).optional(),
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
  })
  .passthrough();

export const configSchema = z
  .object({
    scope: z.string().min(1),
    namespace: z.string().default('/service'),
    name: z.string().min(1),
    log: z
      .object({
        level: logLevel.default('INFO'),
        type: z.enum(['plain', 'json']).default('plain'),
        /** Python logging placeholders (`%(asctime)s`); with type json also a list of fields, `{field: newname}` renames. */
        format: z.union([z.string(), z.array(z.union([z.string(), z.record(z.string())]))]).optional(),
        dateformat: z.string().optional(),
        static_fields: z.record(z.unknown()).optional(),
        dir: z.string().min(1).optional(),
        file_size: z.coerce.number().int().positive().optional(),
        file_num: z.coerce.number().int().min(0).optional(),
        /** Patroni 3.3+: a heartbeat line identical to the previous cycle's is not logged again (at INFO). */
        deduplicate_heartbeat_logs: bool.default(false),
        /** File permissions. `0640` reads as octal, as PyYAML reads it for Patroni (YAML 1.2 would say 640). */
        mode: z.coerce
          .number()
          .int()
          .min(0)
          .transform((m) => (m > 0o777 && /^[0-7]+$/.test(String(m)) ? parseInt(String(m), 8) : m))
          .pipe(z.number().max(0o777, 'must be a file mode such as 0600'))
          .optional(),
      })
      .passthrough()
      .default({}),
    restapi: z
      .object({
        listen: listenAddr,
        connect_address: hostPort,
        authentication: credentials.optional(),
        certfile: z.string().optional(),
        keyfile: z.string().optional(),
        keyfile_password: z.string().optional(),
        cafile: z.string().optional(),
        ciphers: z.string().min(1).optional(),
        verify_client: z.enum(['none', 'optional', 'required']).optional(),
        /** Hosts, addresses and CIDR networks allowed to call unsafe methods (Patroni's allowlist). */
        allowlist: z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v), z.array(z.string().min(1))).optional(),
        allowlist_include_members: bool.optional(),
        http_extra_headers: z.record(z.coerce.string()).optional(),
        https_extra_headers: z.record(z.coerce.string()).optional(),
        server_tokens: z.preprocess((v) => (typeof v === 'string' ? v.toLowerCase() : v), z.enum(['minimal', 'productonly', 'original'])).optional(),
        /**
         * hactl: run with unsafe methods (switchover, PATCH /config, restart, …) open to anyone who can reach a
         * non-loopback restapi.listen. Without it such an agent refuses to start (restapi-access.ts).
         */
        allow_unauthenticated_unsafe: bool.default(false),
        /** hactl: connection caps of the REST server (file descriptors are shared with Raft and PostgreSQL). */
        max_connections: z.coerce.number().int().min(1).default(200),
        max_connections_per_address: z.coerce.number().int().min(1).default(50),
      })
      .passthrough(),
    ctl: z.object({ authentication: credentials.optional() }).passthrough().optional(),
    raft: raftSchema.optional(),
    etcd3: etcd3Schema.optional(),
    bootstrap: z
      .object({
        dcs: dynamicConfigSchema.default({}),
        initdb: optionList.optional(),
        pg_hba: z.array(z.string()).optional(),
        users: z
          .record(z.object({ password: z.string().optional(), options: z.array(z.string()).optional() }))
          .optional(),
        post_bootstrap: z.string().optional(),
        post_init: z.string().optional(),
      })
      .passthrough()
      .default({}),
    postgresql: z
      .object({
        listen: listenAddr,
        connect_address: hostPort,
        data_dir: z.string().min(1),
        bin_dir: z.string().optional(),
        config_dir: z.string().optional(),
        pgpass: z.string().optional(),
        os_user: z.string().min(1).default('postgres'),
        authentication: z
          .object({ superuser: credentials, replication: credentials, rewind: credentials.optional() })
          .passthrough(),
        parameters: z.record(z.union([z.string(), z.number(), z.boolean()])).default({}),
        pg_hba: z.array(z.string()).optional(),
        pg_ident: z.array(z.string()).optional(),
        use_pg_rewind: bool.optional(),
        remove_data_directory_on_rewind_failure: bool.default(false),
        remove_data_directory_on_diverged_timelines: bool.default(false),
        create_replica_methods: z.array(z.string()).default(['basebackup']),
        basebackup: optionList.optional(),
        pg_ctl_timeout: seconds.positive().default(60),
        /** Local connections over the unix socket instead of TCP (Patroni's default: TCP). */
        use_unix_socket: bool.default(false),
        use_unix_socket_repl: bool.default(false),
        /** Commands run as `<cmd> <action> <role> <scope>` (src/agent/callbacks.ts). */
        callbacks: z
          .object({ on_start: z.string().optional(), on_stop: z.string().optional(), on_restart: z.string().optional(), on_reload: z.string().optional(), on_role_change: z.string().optional() })
          .passthrough()
          .optional(),
        pre_promote: z.string().optional(),
        before_stop: z.string().optional(),
      })
      .passthrough(),
    watchdog: z
      .object({
        mode: z
          .preprocess(
            (v) => (v === false ? 'off' : typeof v === 'string' ? v.toLowerCase() : v),
            z.enum(['off', 'disable', 'disabled', 'false', 'automatic', 'auto', 'required', 'require']),
          )
          .transform((m) => (['disable', 'disabled', 'false'].includes(m) ? 'off' : m === 'auto' ? 'automatic' : m === 'require' ? 'required' : m))
          .default('automatic'),
        device: z.string().default('/dev/watchdog'),
        safety_margin: seconds.default(5),
      })
      .passthrough()
      .default({}),
    /**
     * hactl extension (issue 9): the fence process that kills a primary whose agent stopped renewing
     * the leader key. `off` runs without it (documented in man/ha.yml.5, "Self-fencing").
     */
    fence: z
      .object({
        mode: z
          .preprocess((v) => (v === false ? 'off' : v === true ? 'on' : typeof v === 'string' ? v.toLowerCase() : v), z.enum(['on', 'off']))
          .default('on'),
        /** Seconds between the fence deadline and the end of the leader lease the agent believes in. */
        safety_margin: seconds.min(0).default(1),
        /** Directory of the fence's pid file, log and record; private to root/the agent (checked at start). */
        dir: z.string().min(1).optional(),
        /** Record written when the fence kills PostgreSQL; default `<fence.dir>/fenced.json`. */
        record_file: z.string().min(1).optional(),
        /**
         * Issue 17: the agent died while PostgreSQL runs as the primary. `wait` (default): nothing
         * changes — the fence kills at the lease deadline, and systemd's restart of the agent resumes
         * as leader while the lease holds; `kill`: kill PostgreSQL at once and release the leader key.
         */
        on_agent_death: z
          .preprocess((v) => (typeof v === 'string' ? v.toLowerCase() : v), z.enum(['wait', 'kill']))
          .optional(),
      })
      .passthrough()
      .optional(),
    tags: z
      .object({
        nofailover: bool.optional(),
        failover_priority: z.coerce.number().int().min(0).optional(),
        noloadbalance: bool.optional(),
        clonefrom: bool.optional(),
        nosync: bool.optional(),
        /** Preference among synchronous standby candidates (higher first); <= 0 never synchronous. */
        sync_priority: z.coerce.number().int().optional(),
        replicatefrom: z.string().optional(),
      })
      .passthrough()
      .default({}),
  })
  .passthrough()
  .superRefine((c, ctx) => {
    // nofailover + failover_priority (nosync + sync_priority) are accepted as Patroni 3.3+ does: the
    // boolean wins and a contradiction is warned about (load.ts, key-report.ts contradictoryTags).
    // The placeholder that keeps writes waiting in synchronous_mode_strict (src/agent/ha/sync-names.ts).
    if (c.name === '__patroni_strict_sync_replica_placeholder__') {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['name'], message: 'is reserved for synchronous_mode_strict' });
    }
    if (c.raft?.self_addr && c.raft.partner_addrs.includes(c.raft.self_addr)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['raft', 'partner_addrs'],
        message: `must not contain self_addr ${c.raft.self_addr}`,
      });
    }
    // A voter that forgets term, vote and log on restart can vote twice in a term (src/raft/node/options.ts).
    if (c.raft && !c.raft.data_dir) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['raft', 'data_dir'],
        message: 'is required: the Raft member keeps its term, vote and log there (Patroni defaulted to the working directory; set data_dir: . for that)',
      });
    }
    // Without a password anyone who reaches the Raft port can vote, write and expire keys.
    if (c.raft && !c.raft.password && !c.raft.allow_unauthenticated) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['raft', 'password'],
        message:
          'is required: add `password: <secret>` under raft: (the same secret on every member); without it anyone who can reach the Raft port can vote, write and expire keys. ' +
          'Patroni runs without one; to do that on purpose set raft.allow_unauthenticated: true',
      });
    }
    // One cluster store per agent. Neither is allowed here: configs for the memory store in tests, and
    // the agent refuses to start without one.
    if (c.raft && c.etcd3) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['etcd3'], message: 'set either raft or etcd3, not both' });
    }
  });

export type HactlConfig = z.infer<typeof configSchema>;
export type DynamicConfig = z.infer<typeof dynamicConfigSchema>;

/** primary_start_timeout in seconds; Patroni reads the pre-2.1 master_start_timeout when it is absent (300). */
export function primaryStartTimeout(dynamic: DynamicConfig): number {
  return dynamic.primary_start_timeout ?? dynamic.master_start_timeout ?? 300;
}

/** primary_stop_timeout in seconds; Patroni reads the pre-2.1 master_stop_timeout when it is absent (0: none). */
export function primaryStopTimeout(dynamic: DynamicConfig): number {
  return dynamic.primary_stop_timeout ?? dynamic.master_stop_timeout ?? 0;
}
export type RaftSection = z.infer<typeof raftSchema>;
export type Etcd3ConfigSection = z.infer<typeof etcd3Schema>;

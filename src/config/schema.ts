/**
 * The configuration file schema: Patroni's keys (a patroni.yml with a `raft:` section loads as is),
 * validated once at the boundary. Unknown keys are kept, not rejected, so that a Patroni file with
 * options we do not implement yet still starts; `unknownKeys()` in load.ts reports them.
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

export const postgresqlDynamicSchema = z
  .object({
    use_pg_rewind: bool.optional(),
    use_slots: bool.optional(),
    parameters: z.record(z.union([z.string(), z.number(), z.boolean()])).optional(),
    pg_hba: z.array(z.string()).optional(),
    recovery_conf: z.record(z.unknown()).optional(),
  })
  .passthrough();

export const dynamicConfigSchema = z
  .object({
    ttl: seconds.positive().default(30),
    loop_wait: seconds.positive().default(10),
    retry_timeout: seconds.positive().default(10),
    maximum_lag_on_failover: z.coerce.number().int().min(0).default(1048576),
    maximum_lag_on_syncnode: z.coerce.number().int().min(-1).default(-1),
    primary_start_timeout: seconds.min(0).default(300),
    primary_stop_timeout: seconds.min(0).default(0),
    synchronous_mode: z.union([bool, z.literal('quorum')]).default(false),
    synchronous_mode_strict: bool.default(false),
    synchronous_node_count: z.coerce.number().int().min(1).default(1),
    check_timeline: bool.default(false),
    pause: bool.default(false),
    postgresql: postgresqlDynamicSchema.default({}),
    slots: z.record(z.object({ type: z.enum(['physical', 'logical']) }).passthrough()).optional(),
  })
  .passthrough();

export const raftSchema = z
  .object({
    self_addr: hostPort.optional(),
    partner_addrs: z.array(hostPort).default([]),
    bind_addr: hostPort.optional(),
    data_dir: z.string().min(1).optional(),
    password: z.string().optional(),
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
      .object({ level: z.enum(['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL']).default('INFO') })
      .passthrough()
      .default({}),
    restapi: z
      .object({
        listen: listenAddr,
        connect_address: hostPort,
        authentication: credentials.optional(),
        certfile: z.string().optional(),
        keyfile: z.string().optional(),
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
        use_pg_rewind: bool.optional(),
        remove_data_directory_on_rewind_failure: bool.default(false),
        remove_data_directory_on_diverged_timelines: bool.default(false),
        create_replica_methods: z.array(z.string()).default(['basebackup']),
        basebackup: optionList.optional(),
        pg_ctl_timeout: seconds.positive().default(60),
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
        /** Record written when the fence kills PostgreSQL; default `<data_dir>.fenced.json`. */
        record_file: z.string().min(1).optional(),
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
    if (c.tags.nofailover !== undefined && c.tags.failover_priority !== undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['tags', 'failover_priority'],
        message: 'set either nofailover or failover_priority, not both',
      });
    }
    if (c.tags.nosync !== undefined && c.tags.sync_priority !== undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['tags', 'sync_priority'], message: 'set either nosync or sync_priority, not both' });
    }
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
    // One cluster store per agent. Neither is allowed here: configs for the memory store in tests, and
    // the agent refuses to start without one.
    if (c.raft && c.etcd3) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['etcd3'], message: 'set either raft or etcd3, not both' });
    }
  });

export type HactlConfig = z.infer<typeof configSchema>;
export type DynamicConfig = z.infer<typeof dynamicConfigSchema>;
export type RaftSection = z.infer<typeof raftSchema>;
export type Etcd3ConfigSection = z.infer<typeof etcd3Schema>;

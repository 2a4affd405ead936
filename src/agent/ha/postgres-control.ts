/**
 * The real LocalPostgres (local-postgres.ts): each step on src/postgres, against the current
 * PostgreSQL context (a reload may replace it, so it is read per call). The reads of every cycle
 * (state, slots, synchronous replication) share one kept connection (kept-connection.ts), which
 * each step that stops, starts or replaces the server closes first.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  bootstrap,
  checkDivergence,
  checkpointAfterPromote,
  copyLogicalSlots,
  createReplica,
  ensureCleanShutdown,
  follow,
  getStatus,
  localPositionFromControlData,
  parseLsnOrNull,
  promote,
  queryPendingRestart,
  queryState,
  readControlData,
  readUserFile,
  reinit,
  reload,
  restart,
  rewind,
  start,
  stop,
  readSlotPositions,
  syncSlots,
  KeptConnection,
  withConnection,
  writeConfiguration,
  type PgContext,
} from '../../postgres/index.js';
import type { DataDirectoryState, LocalPostgres, SyncReplicationState } from './local-postgres.js';
import { ackPositionColumn } from './sync.js';

/** Local SQL calls the loop makes: a server that does not connect within this is not answering. */
const SQL_CONNECT_TIMEOUT_MS = 2000;

type Client = Parameters<Parameters<typeof withConnection>[1]>[0];

export function postgresControl(pg: () => PgContext): LocalPostgres {
  const kept = new KeptConnection(pg);
  const sql = <T>(fn: (client: Client) => Promise<T>, timeouts: { connectTimeoutMs: number; queryTimeoutMs?: number } = { connectTimeoutMs: SQL_CONNECT_TIMEOUT_MS }) =>
    kept.run(fn, timeouts);
  const via = <T>(fn: (client: Client) => Promise<T>) => sql(fn);
  /** A step that stops, starts or replaces the server: a smart shutdown would wait for the kept session. */
  const closing =
    <A extends unknown[], R>(step: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      await kept.close();
      return step(...args);
    };
  return {
    dataDirectory: () => dataDirectory(pg().options.data_dir),
    postmaster: () => getStatus(pg()),
    controlData: () => readControlData(pg()),
    serverState: (timeoutMs) =>
      sql(
        async (client) => {
          const server = await queryState(client);
          return { server, pendingRestart: await queryPendingRestart(client) };
        },
        { connectTimeoutMs: timeoutMs, queryTimeoutMs: timeoutMs },
      ),
    timelineHistory: async (timeline) => {
      const file = path.join(pg().options.data_dir, 'pg_wal', `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`);
      // pg_wal is the OS user's: never follow a link planted there (its content goes into the history key).
      return readUserFile(file, pg().user);
    },

    configure: (role) => writeConfiguration(pg(), role),
    start: closing(async () => {
      await start(pg());
    }),
    stop: closing(async (mode, boundMs) => {
      const { killed } = await stop(pg(), boundMs ? { mode, timeoutMs: boundMs, killAfterTimeout: true } : { mode });
      return { killed };
    }),
    // A connection of its own: a CHECKPOINT may take long, and the kept one serves the cycle's reads.
    checkpoint: async () => {
      await withConnection(pg(), (c) => c.query('CHECKPOINT'), { connectTimeoutMs: SQL_CONNECT_TIMEOUT_MS });
    },
    reload: () => reload(pg()),
    restart: closing((startTimeoutMs) => restart(pg(), { stop: { mode: 'fast' }, start: startTimeoutMs !== null ? { timeoutMs: startTimeoutMs } : {} })),

    promote: () => promote(pg()),
    checkpointAfterPromote: () => checkpointAfterPromote(pg()),
    follow: closing((target) => follow(pg(), target)),
    // Nothing to do on a server that is down; the callback layer (postgres-callbacks.ts) reports it.
    markDemoted: async () => {},
    markStandbyLeader: async () => {},

    bootstrap: closing(async (options) => {
      await bootstrap(pg(), options);
    }),
    createReplica: closing((options) => createReplica(pg(), options)),
    divergence: closing(async (source, crashed) => {
      // A crashed primary's WAL end is unknown until crash recovery brings it to a clean shutdown (Patroni's
      // ensure_clean_shutdown). A crashed standby is judged by its minimum recovery point and its timeline,
      // as Patroni's _get_local_timeline_lsn_from_controldata does: single-user crash recovery replays only
      // its checkpoint's timeline, so a standby that followed a promotion since its last restartpoint ended
      // on the old timeline past the fork and never started as a standby again (compat dcs_failsafe_mode,
      // the known replica restarted after a kill -9). A rewind still shuts it down cleanly first (rewind()).
      if (crashed && localPositionFromControlData((await readControlData(pg())).raw)?.inRecovery !== true) await ensureCleanShutdown(pg());
      const check = await checkDivergence(pg(), source);
      return { diverged: check.diverged, reason: check.reason };
    }),
    rewind: closing((source, followTarget) => rewind(pg(), source, { follow: followTarget })),
    reinit: closing((options) => reinit(pg(), options)),

    syncSlots: (input) => syncSlots(pg(), input, via),
    // Read before each POST /failsafe round: bounded like the cycle's other reads.
    slotPositions: (wanted) => readSlotPositions(pg(), wanted, via),
    copyLogicalSlots: closing((source, slots) => copyLogicalSlots(pg(), source, slots)),
    syncReplicationState: () => sql(readSyncReplicationState),
    setSynchronousStandbyNames: (value) =>
      sql(async (client) => {
        if (value === '') await client.query('ALTER SYSTEM RESET synchronous_standby_names');
        else await client.query(`ALTER SYSTEM SET synchronous_standby_names = ${client.escapeLiteral(value)}`);
        await client.query('SELECT pg_catalog.pg_reload_conf()');
      }),
  };
}

async function dataDirectory(dataDir: string): Promise<DataDirectoryState> {
  let entries: string[];
  try {
    entries = await fs.readdir(dataDir);
  } catch (err) {
    // Missing: nothing to run yet. Unreadable (EACCES, ENOTDIR…): not a data directory we can use.
    return { path: dataDir, kind: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'empty' : 'invalid', standbySignal: false, backupLabel: false };
  }
  const exists = (file: string) => fs.access(path.join(dataDir, file)).then(
    () => true,
    () => false,
  );
  // Hidden entries are our own clone staging directories (src/postgres/replica.ts), not data.
  if (entries.filter((e) => !e.startsWith('.')).length === 0) return { path: dataDir, kind: 'empty', standbySignal: false, backupLabel: false };
  const [version, control, standbySignal, backupLabel] = await Promise.all([
    exists('PG_VERSION'),
    exists('global/pg_control'),
    exists('standby.signal'),
    exists('backup_label'),
  ]);
  return { path: dataDir, kind: version && control ? 'valid' : 'invalid', standbySignal, backupLabel };
}

/** Walsenders first, then the position: a watermark must cover every commit acknowledged before it was taken. */
async function readSyncReplicationState(client: Parameters<Parameters<typeof withConnection>[1]>[0]): Promise<SyncReplicationState> {
  // The position commits wait for: replay_lsn under remote_apply, write_lsn under remote_write (as Patroni).
  const column = ackPositionColumn((await client.query<{ s: string }>("SELECT pg_catalog.current_setting('synchronous_commit') AS s")).rows[0]!.s);
  const rows = (
    await client.query<{ pid: number; application_name: string; state: string; sync_state: string; flush_lsn: string | null }>(
      `SELECT pid, application_name, state, sync_state, ${column}::text AS flush_lsn FROM pg_catalog.pg_stat_replication`,
    )
  ).rows;
  const setting = (
    await client.query<{ setting: string; sourcefile: string | null }>("SELECT setting, sourcefile FROM pg_catalog.pg_settings WHERE name = 'synchronous_standby_names'")
  ).rows[0];
  // A standby has no insert position (pg_current_wal_lsn() raises an ERROR in recovery): prePromote reads
  // only the setting there.
  const lsn = (
    await client.query<{ lsn: string | null }>('SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL ELSE pg_catalog.pg_current_wal_lsn()::text END AS lsn')
  ).rows[0]!.lsn;
  return {
    connections: rows.map((r) => ({ name: r.application_name, pid: r.pid, state: r.state, syncState: r.sync_state, flushLsn: parseLsnOrNull(r.flush_lsn) })),
    primaryLsn: parseLsnOrNull(lsn) ?? 0n,
    ssn: setting?.setting ?? '',
    managed: setting?.sourcefile?.endsWith('postgresql.auto.conf') ?? false,
  };
}

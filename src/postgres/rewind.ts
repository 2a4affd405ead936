// Repairing a diverged timeline (docs/patroni-behaviour.md 4.7): find out whether the local node diverged from the
// primary, rewind it with pg_rewind as the rewind user when allowed, and fall back to a reinit (remove the data
// directory, clone again) only when the config allows removing data. Otherwise say clearly that a reinit is needed.
import path from 'node:path';
import { commandLineArgs, type CloneSource } from './basebackup.js';
import { buildConninfo } from './conf.js';
import { withConnection } from './connection.js';
import { commandLineSettings, getStatus, start, stop } from './lifecycle.js';
import { configDirOf, pgpassPathOf, rewindUserOf } from './context.js';
import { isCleanShutdown, readControlData } from './controldata.js';
import { PostgresAuthRejected, PostgresNotReady, PostgresStateError } from './errors.js';
import { runPg } from './exec.js';
import { removeUserFile } from './user-files.js';
import { formatLsn, parseLsnOrNull } from './lsn.js';
import { reinit } from './reinit.js';
import { queryState } from './state.js';
import {
  decideDivergence,
  fetchLocalStandbyPosition,
  fetchPrimaryTimeline,
  localPositionFromControlData,
  parseCheckpointEndFromWaldump,
  type DivergenceVerdict,
  type LocalTimelinePosition,
} from './timeline.js';
import type { PgContext, StandbyTarget } from './types.js';
import { writeConfiguration, writePgpass } from './write-config.js';
import type { BasebackupProgress } from './basebackup-progress.js';

/** Where the local WAL ends: from the running server, or pg_controldata (+ pg_waldump for a former primary). */
export async function localTimelinePosition(ctx: PgContext): Promise<LocalTimelinePosition> {
  if ((await getStatus(ctx)).state === 'running') {
    const state = await withConnection(ctx, queryState);
    if (state.inRecovery) {
      // Not the checkpoint's timeline (it lags by every timeline crossed since the last restartpoint),
      // nor the WAL receiver's (it may already stream a newer one): the replay timeline (timeline.ts).
      const position = await fetchLocalStandbyPosition(ctx);
      const replayed = await withConnection(ctx, async (c) => parseLsnOrNull((await c.query<{ lsn: string | null }>('SELECT pg_catalog.pg_last_wal_replay_lsn()::text AS lsn')).rows[0]?.lsn));
      return { ...position, lsn: await standbyWalEnd(ctx, position.timeline, position.lsn, replayed), inRecovery: true };
    }
    return { timeline: state.timeline, lsn: state.currentLsn ?? state.lsn, inRecovery: false };
  }
  const control = await readControlData(ctx);
  const position = localPositionFromControlData(control.raw);
  if (!position) {
    throw new PostgresStateError(`cannot tell where the WAL of ${ctx.options.data_dir} ends: cluster state is "${control.clusterState}" (not shut down cleanly)`);
  }
  if (!position.inRecovery) {
    const waldump = await runPg(
      ctx,
      'pg_waldump',
      ['-p', path.join(ctx.options.data_dir, 'pg_wal'), '-t', String(position.timeline), '-s', formatLsn(position.lsn), '-n', '2'],
      { allowNonZeroExit: true, timeoutMs: 15_000, env: { LC_ALL: 'C', LANG: 'C' } },
    // Without pg_waldump's answer the checkpoint's end stays unknown, and the divergence check then counts the node as diverged (it cannot prove otherwise).
    ).catch(() => null);
    if (waldump) position.checkpointEndLsn = parseCheckpointEndFromWaldump(waldump.stdout, waldump.stderr, position.lsn);
  }
  return position;
}

/**
 * Where a running standby's WAL ends for the divergence check, given IDENTIFY_SYSTEM's flush position and
 * the replayed LSN. PostgreSQL's own check ("new timeline forked off current database system timeline
 * before current recovery point") compares with the end of the last replayed record, and Patroni's
 * _get_local_timeline_lsn takes the replayed LSN. The flush position alone over-counts: when the primary is
 * lost mid-record, the replicas hold the same partial record at the end of what they received, and the new
 * primary's timeline branches at the end of its last complete record, before those bytes; a replica that
 * received exactly what the new primary did looked "past the switch point" and, with use_pg_rewind off,
 * waited for a reinit forever (CI rehearsal, partition of the primary without pg_rewind). The replayed LSN
 * alone under-counts a standby whose replay lags (complete records received will be replayed). So: the
 * flush position when pg_waldump finds a complete record at or after the replay end, else the replay end.
 */
async function standbyWalEnd(ctx: PgContext, timeline: number, flushed: bigint, replayed: bigint | null): Promise<bigint> {
  if (replayed === null || flushed <= replayed) return flushed;
  const dump = await runPg(ctx, 'pg_waldump', ['-p', path.join(ctx.options.data_dir, 'pg_wal'), '-t', String(timeline), '-s', formatLsn(replayed), '-n', '1'], {
    allowNonZeroExit: true,
    timeoutMs: 15_000,
    env: { LC_ALL: 'C', LANG: 'C' },
    // pg_waldump did not run: the flush position, which can only count a divergence too many, never one too few.
  }).catch(() => null);
  if (!dump) return flushed;
  return /^rmgr: /m.test(dump.stdout) ? flushed : replayed;
}

export interface DivergenceCheck extends DivergenceVerdict {
  local: LocalTimelinePosition;
  primaryTimeline: number;
}

/** Compares the local position with the primary's timeline history (fetched over replication). */
export async function checkDivergence(ctx: PgContext, primary: CloneSource): Promise<DivergenceCheck> {
  const local = await localTimelinePosition(ctx);
  const remote = await fetchPrimaryTimeline(ctx, primary);
  const verdict = decideDivergence({ local, primaryTimeline: remote.timeline, primaryHistory: remote.history });
  return { ...verdict, local, primaryTimeline: remote.timeline };
}

/** pg_rewind works only with wal_log_hints or data checksums, and only when use_pg_rewind allows it. */
export async function canRewind(ctx: PgContext): Promise<{ ok: boolean; reason: string }> {
  if (!ctx.options.use_pg_rewind) return { ok: false, reason: 'postgresql.use_pg_rewind is off' };
  const control = await readControlData(ctx);
  if (!control.walLogHints && control.dataChecksumVersion === 0) {
    return { ok: false, reason: 'neither wal_log_hints nor data checksums were on, pg_rewind cannot work' };
  }
  return { ok: true, reason: 'use_pg_rewind is on and wal_log_hints or data checksums are on' };
}

/**
 * pg_rewind needs a target that was shut down cleanly. After a crash, run crash recovery in single-user mode
 * (no standby.signal: single-user mode refuses standby mode; archiving disabled so recovery does not archive
 * the diverged WAL), as Patroni's ensure_clean_shutdown does.
 */
export async function ensureCleanShutdown(ctx: PgContext): Promise<void> {
  if (isCleanShutdown(await readControlData(ctx))) return;
  await removeUserFile(path.join(ctx.options.data_dir, 'standby.signal'), ctx.user);
  await removeUserFile(path.join(ctx.options.data_dir, 'recovery.signal'), ctx.user);
  const settings = { ...commandLineSettings(ctx), archive_mode: 'on', archive_command: 'false' };
  const args = ['--single', '-D', ctx.options.data_dir];
  if (configDirOf(ctx.options) !== ctx.options.data_dir) args.push('-c', `config_file=${path.join(configDirOf(ctx.options), 'postgresql.conf')}`);
  for (const [k, v] of Object.entries(settings)) if (k !== 'config_file') args.push('-c', `${k}=${v}`);
  await runPg(ctx, 'postgres', [...args, 'template1'], { input: '', timeoutMs: 10 * 60_000 });
  const after = await readControlData(ctx);
  if (!isCleanShutdown(after)) throw new PostgresStateError(`crash recovery in single-user mode left ${ctx.options.data_dir} in state "${after.clusterState}"`);
}

function rewindConninfo(ctx: PgContext, source: CloneSource): string {
  const user = rewindUserOf(ctx.options);
  return buildConninfo({
    host: source.host,
    port: source.port,
    user: user.username,
    dbname: 'postgres',
    sslmode: user.sslmode,
    sslrootcert: user.sslrootcert,
    sslcert: user.sslcert,
    sslkey: user.sslkey,
    // Rewinding from a standby is possible since 14, but from the real primary is always safer.
    target_session_attrs: 'read-write',
    connect_timeout: 10,
  });
}

// pg_control on the source still shows the old timeline until the first checkpoint after promotion, and
// pg_rewind would then find "nothing to do". True when the checkpoint happened.
const SOURCE_CHECKPOINTED_SQL = `SELECT NOT pg_catalog.pg_is_in_recovery()
  AND ('x' || pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int = timeline_id AS ok
  FROM pg_catalog.pg_control_checkpoint()`;

/** Waits until the source ran a checkpoint on its new timeline, asking it for one (CHECKPOINT) if our user may. */
export async function waitForSourceCheckpoint(ctx: PgContext, source: CloneSource, timeoutMs: number): Promise<void> {
  const conn = { host: source.host, port: source.port, user: rewindUserOf(ctx.options), connectTimeoutMs: 3000 };
  const deadline = Date.now() + timeoutMs;
  let asked = false;
  let last = '';
  while (true) {
    try {
      const ok = await withConnection(ctx, async (c) => (await c.query<{ ok: boolean }>(SOURCE_CHECKPOINTED_SQL)).rows[0]?.ok === true, conn);
      if (ok) return;
      last = 'the source has not run a checkpoint since its promotion';
      if (!asked) {
        asked = true;
        // Needs superuser or pg_checkpoint (15+); without it we wait for the source's own checkpoint.
        await withConnection(ctx, (c) => c.query('CHECKPOINT'), conn).catch(() => undefined);
        continue;
      }
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() >= deadline) throw new PostgresNotReady(`rewind source ${source.name ?? `${source.host}:${source.port}`}`, timeoutMs, last);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Options we set for pg_rewind ourselves. */
const REWIND_RESERVED = new Set(['target-pgdata', 'D', 'source-pgdata', 'source-server', 'write-recovery-conf', 'R', 'dry-run', 'n', 'progress', 'P']);

export interface RewindOptions {
  /** The primary to follow afterwards (host/port/slot); defaults to the source with no slot. */
  follow?: StandbyTarget | null;
  /** Start the rewound node as a standby (default true). */
  startAfter?: boolean;
  /** Max wait for the source's post-promotion checkpoint. Default pg_ctl_timeout. */
  checkpointTimeoutMs?: number;
  timeoutMs?: number;
  /** Progress of the reinit basebackup when the rewind fails and a reinit is allowed. */
  onProgress?: (progress: BasebackupProgress) => void;
}

export type RewindResult =
  | { status: 'rewound'; elapsedMs: number; reason: string }
  /** The source stopped answering (or being a primary): nothing was decided about our data; try again. */
  | { status: 'source-unavailable'; reason: string }
  | { status: 'reinitialized'; elapsedMs: number; reason: string; rewindError: string }
  | { status: 'needs-reinit'; reason: string; rewindError?: string };

/**
 * Stops the server, makes sure it was shut down cleanly, runs pg_rewind from `source` as the rewind user, then
 * rewrites the per-node configuration (pg_rewind copied the source's) and starts it as a standby. When pg_rewind
 * fails: reinit if remove_data_directory_on_rewind_failure (or ..._on_diverged_timelines) is set, else
 * 'needs-reinit'.
 */
export async function rewind(ctx: PgContext, source: CloneSource, options: RewindOptions = {}): Promise<RewindResult> {
  const began = Date.now();
  const follow = options.follow === undefined ? { host: source.host, port: source.port } : options.follow;
  const possible = await canRewind(ctx);
  if (!possible.ok) {
    // Only remove_data_directory_on_diverged_timelines allows wiping a node that could not even try a rewind.
    const allowed = ctx.options.remove_data_directory_on_diverged_timelines === true;
    return fallBack(ctx, source, follow, options, began, allowed, `cannot rewind: ${possible.reason}`);
  }
  try {
    await stop(ctx, { mode: 'fast' });
    await ensureCleanShutdown(ctx);
    try {
      await waitForSourceCheckpoint(ctx, source, options.checkpointTimeoutMs ?? (ctx.options.pg_ctl_timeout ?? 60) * 1000);
    } catch (err) {
      const gone = await sourceProblem(ctx, source);
      if (gone) return { status: 'source-unavailable', reason: `cannot rewind from ${describe(source)} now: ${gone}; trying again on a later cycle` };
      throw err;
    }
    await writePgpass(ctx);
    const args = ['-D', ctx.options.data_dir, `--source-server=${rewindConninfo(ctx, source)}`, ...commandLineArgs(ctx.options.rewind, REWIND_RESERVED, 'postgresql.rewind')];
    if (configDirOf(ctx.options) !== ctx.options.data_dir) args.push(`--config-file=${path.join(configDirOf(ctx.options), 'postgresql.conf')}`);
    await runPg(ctx, 'pg_rewind', args, {
      env: { PGPASSFILE: pgpassPathOf(ctx.options), PGOPTIONS: '-c statement_timeout=0', LC_ALL: 'C', LANG: 'C' },
      timeoutMs: options.timeoutMs,
      secrets: [rewindUserOf(ctx.options).password ?? ''],
    });
  } catch (err) {
    // A source that went away (or stopped being a primary) during the rewind says nothing about our
    // data: try again later, as Patroni does ("Failed to rewind because primary ... become
    // unreachable"). Only a failure against a healthy primary is a reason to reinitialize.
    const gone = await sourceProblem(ctx, source);
    if (gone) return { status: 'source-unavailable', reason: `pg_rewind from ${describe(source)} failed: ${gone}; trying again on a later cycle (${(err as Error).message})` };
    const allowed = ctx.options.remove_data_directory_on_rewind_failure === true || ctx.options.remove_data_directory_on_diverged_timelines === true;
    return fallBack(ctx, source, follow, options, began, allowed, `pg_rewind from ${describe(source)} failed`, err);
  }
  await writeConfiguration(ctx, { role: 'replica', primary: follow });
  if (options.startAfter ?? true) await start(ctx);
  return { status: 'rewound', elapsedMs: Date.now() - began, reason: `rewound from ${describe(source)}` };
}

/**
 * Why `source` cannot serve a rewind right now (unreachable, or in recovery), or null when it is a
 * reachable primary, or refuses our rewind user (a configuration error, not a passing state).
 */
async function sourceProblem(ctx: PgContext, source: CloneSource): Promise<string | null> {
  try {
    const inRecovery = await withConnection(ctx, async (c) => (await c.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r')).rows[0]?.r, {
      host: source.host,
      port: source.port,
      user: rewindUserOf(ctx.options),
      connectTimeoutMs: 3000,
    });
    return inRecovery === false ? null : `${describe(source)} is not a primary any more`;
  } catch (err) {
    if (err instanceof PostgresAuthRejected) return null;
    return `${describe(source)} is unreachable (${(err as Error).message})`;
  }
}

function describe(source: CloneSource): string {
  return source.name ? `${source.name} (${source.host}:${source.port})` : `${source.host}:${source.port}`;
}

async function fallBack(
  ctx: PgContext,
  source: CloneSource,
  follow: StandbyTarget | null,
  options: RewindOptions,
  began: number,
  allowed: boolean,
  reason: string,
  err?: unknown,
): Promise<RewindResult> {
  const rewindError = err === undefined ? undefined : err instanceof Error ? err.message : String(err);
  if (!allowed) {
    return {
      status: 'needs-reinit',
      reason: `${reason}; the data directory is kept: reinitialize this member (or set remove_data_directory_on_rewind_failure)`,
      rewindError,
    };
  }
  // Never wipe the data directory when the clone that should replace it cannot start: the source must answer
  // the replication user (Patroni likewise keeps the data when the primary became unreachable).
  try {
    await fetchPrimaryTimeline(ctx, source);
  } catch (probe) {
    return {
      status: 'needs-reinit',
      reason: `${reason}; the data directory is kept because ${describe(source)} cannot be cloned from now (${(probe as Error).message})`,
      rewindError,
    };
  }
  await reinit(ctx, { source, follow, onProgress: options.onProgress, startAfter: options.startAfter });
  return { status: 'reinitialized', elapsedMs: Date.now() - began, reason: `${reason}; data directory removed and cloned again`, rewindError: rewindError ?? reason };
}

/** Checks divergence and repairs it: nothing, a rewind, a reinit when allowed, or 'needs-reinit'. */
export async function repairDivergence(
  ctx: PgContext,
  primary: CloneSource,
  options: RewindOptions = {},
): Promise<RewindResult | { status: 'not-diverged'; reason: string }> {
  const check = await checkDivergence(ctx, primary);
  if (!check.diverged) return { status: 'not-diverged', reason: check.reason };
  const result = await rewind(ctx, primary, options);
  return { ...result, reason: `${check.reason}: ${result.reason}` };
}

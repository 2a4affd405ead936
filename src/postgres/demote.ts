// Demote (a primary becomes a standby of another node) and follow (a standby changes its upstream).
// Both go through writeConfiguration, the one place standby settings are written.
import { withConnection } from './connection.js';
import { isRunning, reload, restart, start, stop, type StopMode } from './lifecycle.js';
import type { PgContext, StandbyTarget } from './types.js';
import { writeConfiguration } from './write-config.js';

export interface DemoteOptions {
  /** First shutdown mode; escalates to immediate when it does not finish in time. Default fast. */
  mode?: StopMode;
  /** Per-mode stop timeout. */
  stopTimeoutMs?: number;
  /** Start again as a standby (default true); false leaves the server stopped, configured as a standby. */
  startAfter?: boolean;
  restoreCommand?: string;
}

export interface DemoteResult {
  /** The shutdown mode that stopped the server (null when it was not running). */
  stoppedWith: StopMode | null;
  elapsedMs: number;
}

/**
 * Stops the server, writes the standby configuration pointing at `primary` (null: a standby with no upstream,
 * e.g. while no leader is known) and starts it following. A CHECKPOINT first shortens the shutdown checkpoint,
 * which is what a switchover waits for (best effort: a hung primary is stopped anyway).
 */
export async function demote(ctx: PgContext, primary: StandbyTarget | null, options: DemoteOptions = {}): Promise<DemoteResult> {
  const began = Date.now();
  const mode = options.mode ?? 'fast';
  if (mode !== 'immediate' && (await isRunning(ctx))) {
    // Best effort: without it the fast shutdown writes its own checkpoint, only slower.
    await withConnection(ctx, (c) => c.query('CHECKPOINT'), { connectTimeoutMs: 2000 }).catch(() => undefined);
  }
  const stopped = await stop(ctx, { mode, timeoutMs: options.stopTimeoutMs });
  await writeConfiguration(ctx, { role: 'replica', primary, restoreCommand: options.restoreCommand });
  if (options.startAfter ?? true) await start(ctx);
  return { stoppedWith: stopped.mode, elapsedMs: Date.now() - began };
}

export interface FollowResult {
  /** How the new upstream took effect. */
  how: 'reload' | 'restart' | 'start';
  elapsedMs: number;
}

/**
 * Points a standby at a new primary. From PostgreSQL 13 primary_conninfo and primary_slot_name are reloadable
 * and the WAL receiver reconnects on SIGHUP, so a running standby only reloads. Older versions, and a server
 * that is still a primary (standby.signal is read only at start), are restarted; a stopped one is started.
 * The caller checks divergence first (rewind.ts): following a primary whose history does not contain our
 * WAL fails in the WAL receiver ("requested timeline is not a child of this server's history").
 */
export async function follow(ctx: PgContext, primary: StandbyTarget | null, options: { restoreCommand?: string } = {}): Promise<FollowResult> {
  const began = Date.now();
  await writeConfiguration(ctx, { role: 'replica', primary, restoreCommand: options.restoreCommand });
  if (!(await isRunning(ctx))) {
    await start(ctx);
    return { how: 'start', elapsedMs: Date.now() - began };
  }
  const standby = await withConnection(ctx, async (c) => (await c.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r')).rows[0]!.r);
  if (standby && ctx.binaries.majorVersion >= 13) {
    await reload(ctx);
    return { how: 'reload', elapsedMs: Date.now() - began };
  }
  await restart(ctx);
  return { how: 'restart', elapsedMs: Date.now() - began };
}

// Promotion of a standby: signal it (`pg_ctl promote -W`, or SELECT pg_promote(wait => false)), then watch for
// the end of recovery and commit a write, all on one connection opened before the signal.
//
// Why not `pg_ctl promote -w` / pg_promote(wait => true): both look at the server every 100 ms (pg_ctl reads
// pg_control, pg_promote sleeps on its latch), so they return up to 100 ms after recovery ended, and then the
// write check needed a connection of its own. Patroni signals without waiting too (`pg_ctl promote -W`) and
// checks the role on its open connection. Every connection is a backend fork that competes with the startup
// process for the CPU: on a loaded host each one cost 100-400 ms of the switchover's write gap.
import type pg from 'pg';
import { withConnection } from './connection.js';
import { pgCtlTimeoutMs } from './context.js';
import { PostgresNotReady, PostgresStateError } from './errors.js';
import { runPg } from './exec.js';
import { isRunning, reload } from './lifecycle.js';
import type { PgContext } from './types.js';
import { writeConfiguration } from './write-config.js';

export interface PromoteOptions {
  /** `pg_ctl` (default; works with the server's own signalling) or `sql` (pg_promote, no OS access needed). */
  method?: 'pg_ctl' | 'sql';
  timeoutMs?: number;
  /** Injected for tests of the polling; Date.now by default. */
  now?: () => number;
}

export interface PromoteResult {
  /** False when the server was already a primary (nothing was done). */
  promoted: boolean;
  /** From the promote request to the first committed write. */
  elapsedMs: number;
  /** The server's timeline after promotion. */
  timeline: number;
}

// Assigning a transaction id fails during recovery, so a commit proves the server accepts writes. The commit
// is local only: with synchronous replication configured it must not wait for standbys that may be gone.
const WRITE_PROBE = 'BEGIN; SET LOCAL synchronous_commit = local; SELECT pg_catalog.txid_current(); COMMIT';

/** How often the open connection asks whether recovery has ended (a query on it costs well under 1 ms). */
const POLL_MS = 10;

async function queryInRecovery(c: pg.Client): Promise<boolean> {
  return (await c.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r')).rows[0]!.r;
}

async function queryTimeline(c: pg.Client): Promise<number> {
  // pg_walfile_name's first 8 hex digits are the timeline of the current insert position.
  const res = await c.query<{ tli: string }>(
    "SELECT ('x' || pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int AS tli",
  );
  return Number(res.rows[0]!.tli);
}

/** Waits until a write transaction commits, on fresh connections; throws PostgresNotReady after `timeoutMs`. */
export async function waitUntilWritable(ctx: PgContext, timeoutMs: number, now: () => number = Date.now): Promise<void> {
  const deadline = now() + timeoutMs;
  let lastError = '';
  while (true) {
    try {
      await withConnection(ctx, (c) => c.query(WRITE_PROBE), { connectTimeoutMs: 2000 });
      return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (now() >= deadline) throw new PostgresNotReady('promoted server (for writes)', timeoutMs, lastError);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * On `c`, the connection the promotion was requested on: poll until recovery has ended, then commit the write
 * probe. False when the connection broke (the caller goes on with fresh ones); throws PostgresNotReady when
 * the deadline passes first.
 */
async function waitWritableOn(c: pg.Client, deadline: number, timeoutMs: number, now: () => number): Promise<boolean> {
  let lastError = 'still in recovery';
  while (true) {
    try {
      if (!(await queryInRecovery(c))) {
        await c.query(WRITE_PROBE);
        return true;
      }
    } catch (err) {
      // A probe refused in the last moments of recovery leaves its transaction block aborted: close it.
      lastError = (err as Error).message;
      const usable = await c.query('ROLLBACK').then(
        () => true,
        () => false,
      );
      if (!usable) return false;
    }
    if (now() >= deadline) throw new PostgresNotReady('promoted server (for writes)', timeoutMs, lastError);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Promotes the local standby and returns once it accepts writes. The managed configuration is rewritten for
 * the primary role (no primary_conninfo, no standby.signal) and reloaded, so a later restart stays primary.
 */
export async function promote(ctx: PgContext, options: PromoteOptions = {}): Promise<PromoteResult> {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? pgCtlTimeoutMs(ctx.options);
  if (!(await isRunning(ctx))) throw new PostgresStateError(`cannot promote: PostgreSQL in ${ctx.options.data_dir} is not running`);
  let began = 0;
  const outcome = await withConnection(
    ctx,
    async (c): Promise<{ promoted: false; timeline: number } | { promoted: true; writable: boolean; timeline: number | null }> => {
      if (!(await queryInRecovery(c))) return { promoted: false, timeline: await queryTimeline(c) };
      began = now();
      if ((options.method ?? 'pg_ctl') === 'pg_ctl') {
        // -W: signal and return (the wait is ours, below).
        await runPg(ctx, 'pg_ctl', ['promote', '-D', ctx.options.data_dir, '-W'], { timeoutMs: 15_000 });
      } else {
        const res = await c.query<{ ok: boolean }>('SELECT pg_catalog.pg_promote(wait => false) AS ok');
        if (!res.rows[0]?.ok) throw new PostgresStateError('pg_promote() could not signal the promotion');
      }
      const writable = await waitWritableOn(c, began + timeoutMs, timeoutMs, now);
      return { promoted: true, writable, timeline: writable ? await queryTimeline(c).catch(() => null) : null };
    },
    { connectTimeoutMs: 2000 },
  );
  if (!outcome.promoted) return { promoted: false, elapsedMs: 0, timeline: outcome.timeline };
  // The connection broke under the promotion (it should not): the remaining time on fresh connections.
  if (!outcome.writable) await waitUntilWritable(ctx, Math.max(1000, timeoutMs - (now() - began)), now);
  const elapsedMs = now() - began;
  await writeConfiguration(ctx, { role: 'primary' });
  await reload(ctx);
  const timeline = outcome.timeline ?? (await withConnection(ctx, queryTimeline));
  return { promoted: true, elapsedMs, timeline };
}

/**
 * A CHECKPOINT right after promotion writes the new timeline into pg_control; pg_rewind on the old primary
 * reads the source's timeline from there and refuses ("source and target cluster are on the same timeline")
 * until it happened (Patroni's ensure_checkpoint_after_promote).
 */
export async function checkpointAfterPromote(ctx: PgContext): Promise<void> {
  await withConnection(ctx, (c) => c.query('CHECKPOINT'));
}

// Promotion of a standby: `pg_ctl promote -w` (or SELECT pg_promote()), then wait until a write transaction
// really commits, because "not in recovery" can precede the end-of-recovery checkpoint and the first write.
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

async function inRecovery(ctx: PgContext): Promise<boolean> {
  return withConnection(ctx, async (c) => (await c.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r')).rows[0]!.r);
}

async function currentTimeline(ctx: PgContext): Promise<number> {
  return withConnection(ctx, async (c) => {
    // pg_walfile_name's first 8 hex digits are the timeline of the current insert position.
    const res = await c.query<{ tli: string }>(
      "SELECT ('x' || pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int AS tli",
    );
    return Number(res.rows[0]!.tli);
  });
}

/** Waits until a write transaction commits; throws PostgresNotReady after `timeoutMs`. */
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
 * Promotes the local standby and returns once it accepts writes. The managed configuration is rewritten for
 * the primary role (no primary_conninfo, no standby.signal) and reloaded, so a later restart stays primary.
 */
export async function promote(ctx: PgContext, options: PromoteOptions = {}): Promise<PromoteResult> {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? pgCtlTimeoutMs(ctx.options);
  if (!(await isRunning(ctx))) throw new PostgresStateError(`cannot promote: PostgreSQL in ${ctx.options.data_dir} is not running`);
  if (!(await inRecovery(ctx))) return { promoted: false, elapsedMs: 0, timeline: await currentTimeline(ctx) };
  const began = now();
  if ((options.method ?? 'pg_ctl') === 'pg_ctl') {
    await runPg(ctx, 'pg_ctl', ['promote', '-D', ctx.options.data_dir, '-w', '-t', String(Math.max(1, Math.ceil(timeoutMs / 1000)))], {
      timeoutMs: timeoutMs + 5000,
    });
  } else {
    await withConnection(ctx, async (c) => {
      const res = await c.query<{ ok: boolean }>('SELECT pg_catalog.pg_promote(wait => true, wait_seconds => $1) AS ok', [
        Math.max(1, Math.ceil(timeoutMs / 1000)),
      ]);
      if (!res.rows[0]?.ok) throw new PostgresNotReady('pg_promote()', timeoutMs, 'promotion did not finish');
    });
  }
  await waitUntilWritable(ctx, Math.max(1000, timeoutMs - (now() - began)), now);
  const elapsedMs = now() - began;
  await writeConfiguration(ctx, { role: 'primary' });
  await reload(ctx);
  return { promoted: true, elapsedMs, timeline: await currentTimeline(ctx) };
}

/**
 * A CHECKPOINT right after promotion writes the new timeline into pg_control; pg_rewind on the old primary
 * reads the source's timeline from there and refuses ("source and target cluster are on the same timeline")
 * until it happened (Patroni's ensure_checkpoint_after_promote).
 */
export async function checkpointAfterPromote(ctx: PgContext): Promise<void> {
  await withConnection(ctx, (c) => c.query('CHECKPOINT'));
}

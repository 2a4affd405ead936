/**
 * The imperative half of synchronous mode (sync.ts plans): on the leader each cycle, read the
 * walsenders, the current `synchronous_standby_names` and the WAL position, plan, and carry the
 * steps out in order: `sync` key writes with compare-and-set on its version, the setting with
 * ALTER SYSTEM + reload (postgresql.auto.conf: the managed postgresql.conf is rewritten by other
 * paths, the auto file wins over it and survives them). Before a promotion, the key is taken over
 * and the setting reset (`prePromote`).
 *
 * Never throws from `manage`: a failed step is logged and the next cycle plans again from what it
 * sees, which the ordering in sync.ts keeps safe.
 */
import type { DynamicConfig } from '../../config/index.js';
import type { ClusterView, Dcs } from '../../dcs/index.js';
import { parseLsnOrNull, withConnection, type PgContext } from '../../postgres/index.js';
import type { LineLogger } from '../../logger.js';
import { planSync, prePromoteSync, syncSettingsFrom, type StandbyConnection, type SyncStep, type Watermark } from './sync.js';
import type { Note } from './types.js';

interface ServerSyncView {
  connections: StandbyConnection[];
  primaryLsn: bigint;
  ssn: string;
  managed: boolean;
}

/** Walsenders first, then the position: a watermark must cover every commit acknowledged before it was taken. */
async function readServer(ctx: PgContext): Promise<ServerSyncView> {
  return withConnection(
    ctx,
    async (client) => {
      const rows = (
        await client.query<{ pid: number; application_name: string; state: string; sync_state: string; flush_lsn: string | null }>(
          'SELECT pid, application_name, state, sync_state, flush_lsn::text AS flush_lsn FROM pg_catalog.pg_stat_replication',
        )
      ).rows;
      const setting = (
        await client.query<{ setting: string; sourcefile: string | null }>(
          "SELECT setting, sourcefile FROM pg_catalog.pg_settings WHERE name = 'synchronous_standby_names'",
        )
      ).rows[0];
      const lsn = (await client.query<{ lsn: string }>('SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
      return {
        connections: rows.map((r) => ({ name: r.application_name, pid: r.pid, state: r.state, syncState: r.sync_state, flushLsn: parseLsnOrNull(r.flush_lsn) })),
        primaryLsn: parseLsnOrNull(lsn) ?? 0n,
        ssn: setting?.setting ?? '',
        managed: setting?.sourcefile?.endsWith('postgresql.auto.conf') ?? false,
      };
    },
    { connectTimeoutMs: 2000 },
  );
}

/** ALTER SYSTEM (works on a standby too: it only writes postgresql.auto.conf) and reload. */
export async function setSynchronousStandbyNames(ctx: PgContext, value: string): Promise<void> {
  await withConnection(
    ctx,
    async (client) => {
      if (value === '') await client.query('ALTER SYSTEM RESET synchronous_standby_names');
      else await client.query(`ALTER SYSTEM SET synchronous_standby_names = ${client.escapeLiteral(value)}`);
      await client.query('SELECT pg_catalog.pg_reload_conf()');
    },
    { connectTimeoutMs: 2000 },
  );
}

export interface SyncManagerEnv {
  dcs: Dcs;
  logger: LineLogger;
}

export class SyncManager {
  private watermarks = new Map<string, Watermark>();
  /** Notes of the last cycle: a state that lasts (strict mode waiting) is logged once, not every loop_wait. */
  private lastNotes = new Set<string>();
  /** In asynchronous mode the setting is checked once (then again after a mode change), not every cycle. */
  private offChecked = false;

  constructor(private readonly env: SyncManagerEnv) {}

  /** One leader cycle with PostgreSQL running as the primary. */
  async manage(ctx: PgContext, view: ClusterView, dynamic: DynamicConfig, me: string): Promise<void> {
    const settings = syncSettingsFrom(dynamic);
    if (settings.mode === 'off') {
      if (this.offChecked && view.sync === null) return;
    } else {
      this.offChecked = false;
    }
    try {
      const server = await readServer(ctx);
      const plan = planSync({
        me,
        settings,
        view,
        connections: server.connections,
        primaryLsn: server.primaryLsn,
        currentSsn: server.ssn,
        ssnManaged: server.managed,
        watermarks: this.watermarks,
      });
      this.logNotes(plan.notes);
      this.watermarks = plan.watermarks;
      for (const step of plan.steps) {
        if (!(await this.apply(ctx, step))) return;
      }
      if (settings.mode === 'off') this.offChecked = true;
    } catch (err) {
      this.env.logger.warn(`synchronous replication: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /**
   * Before promoting in synchronous mode: the key names only us (compare-and-set on the version we
   * saw), then the setting is reset. False when the key changed under us (Patroni postpones).
   */
  async prePromote(ctx: PgContext, view: ClusterView | null, dynamic: DynamicConfig, me: string): Promise<boolean> {
    const settings = syncSettingsFrom(dynamic);
    const plan = prePromoteSync(me, settings, view);
    if (plan.key && !(await this.env.dcs.setSyncState(plan.key, plan.ifVersion))) return false;
    this.watermarks = new Map();
    if (settings.mode !== 'off' || (await readServer(ctx).then((s) => s.managed && s.ssn !== '', () => false))) {
      await setSynchronousStandbyNames(ctx, plan.ssn);
    }
    return true;
  }

  private async apply(ctx: PgContext, step: SyncStep): Promise<boolean> {
    const { dcs, logger } = this.env;
    switch (step.kind) {
      case 'write-key':
        if (await dcs.setSyncState(step.state, step.ifVersion)) return true;
        logger.info('Synchronous replication key updated by someone else.');
        return false;
      case 'delete-key':
        await dcs.deleteSyncState(step.ifVersion);
        return true;
      case 'set-ssn':
        await setSynchronousStandbyNames(ctx, step.value);
        // Watermarks are taken again under the new setting, once every walsender has loaded it.
        this.watermarks = new Map();
        logger.info(step.value === '' ? 'synchronous_standby_names reset' : `synchronous_standby_names set to ${step.value}`);
        return true;
    }
  }

  private logNotes(notes: readonly Note[]): void {
    const now = new Set<string>();
    for (const note of notes) {
      const key = `${note.level}:${note.message}`;
      now.add(key);
      if (note.level === 'warning' && this.lastNotes.has(key)) continue;
      if (note.level === 'error') this.env.logger.error(note.message);
      else if (note.level === 'warning') this.env.logger.warn(note.message);
      else this.env.logger.info(note.message);
    }
    this.lastNotes = now;
  }
}

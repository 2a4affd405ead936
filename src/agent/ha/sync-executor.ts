/**
 * The imperative half of synchronous mode (sync.ts plans): on the leader each cycle, read the
 * walsenders, the current `synchronous_standby_names` and the WAL position, plan, and carry the
 * steps out in order: `sync` key writes with compare-and-set on its version, the setting with
 * ALTER SYSTEM + reload (postgresql.auto.conf: the managed postgresql.conf is rewritten by other
 * paths, the auto file wins over it and survives them). Before a promotion, the key is taken over
 * and the setting set to what sync.ts plans for it (`prePromote`).
 *
 * Never throws from `manage`: a failed step is logged and the next cycle plans again from what it
 * sees, which the ordering in sync.ts keeps safe.
 */
import type { DynamicConfig } from '../../config/index.js';
import type { ClusterView, Dcs } from '../../dcs/index.js';
import type { LineLogger } from '../../logger.js';
import type { LocalPostgres } from './local-postgres.js';
import { planSync, prePromoteSync, syncSettingsFrom, type SyncStep, type Watermark } from './sync.js';
import type { Note } from './types.js';

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
  async manage(pg: LocalPostgres, view: ClusterView, dynamic: DynamicConfig, me: string): Promise<void> {
    const settings = syncSettingsFrom(dynamic);
    if (settings.mode === 'off') {
      if (this.offChecked && view.sync === null) return;
    } else {
      this.offChecked = false;
    }
    try {
      const server = await pg.syncReplicationState();
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
        if (!(await this.apply(pg, step))) return;
      }
      if (settings.mode === 'off') this.offChecked = true;
    } catch (err) {
      this.env.logger.warn(`synchronous replication: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /**
   * Before promoting in synchronous mode: the key names only us (compare-and-set on the version we
   * saw), then the setting is set (empty, or in strict mode the kept standbys / placeholder). False when the key changed under us (Patroni postpones).
   */
  async prePromote(pg: LocalPostgres, view: ClusterView | null, dynamic: DynamicConfig, me: string): Promise<boolean> {
    const settings = syncSettingsFrom(dynamic);
    const plan = prePromoteSync(me, settings, view);
    if (plan.key && !(await this.env.dcs.setSyncState(plan.key, plan.ifVersion))) return false;
    this.watermarks = new Map();
    // An unreadable server counts as "not managed by us": the reset is then skipped, as before any promotion.
    if (settings.mode !== 'off' || (await pg.syncReplicationState().then((s) => s.managed && s.ssn !== '', () => false))) {
      await pg.setSynchronousStandbyNames(plan.ssn);
    }
    return true;
  }

  private async apply(pg: LocalPostgres, step: SyncStep): Promise<boolean> {
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
        await pg.setSynchronousStandbyNames(step.value);
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

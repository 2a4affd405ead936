/**
 * A member's replication slots, every cycle: the leader's (member slots, permanent slots, retained slots of
 * members that left) and a replica's (Patroni 4: slots for the other members and the permanent ones, moved
 * up to the positions the leader publishes, so that whoever is promoted already holds them). Which slots
 * are wanted is slot-wanted.ts; the plan and SQL are src/postgres/slots*.ts; this class keeps what
 * carries over between cycles: the slots we own, the positions to publish, the retention clock.
 */
import type { DynamicConfig } from '../../config/index.js';
import type { ClusterView, MemberTags } from '../../dcs/index.js';
import type { WantedSlot } from '../../postgres/index.js';
import type { LocalPostgres } from './local-postgres.js';
import { SlotRetention } from './slot-retention.js';
import { ignoreRules, memberSlotsTtlMs, permanentSlotType, publishedSlots, wantedSlotSet } from './slot-wanted.js';

export interface SlotCycle {
  view: ClusterView;
  me: string;
  /** This member's tags (its local config). */
  tags: MemberTags;
  dynamic: DynamicConfig;
  /** The key holder (a primary or a standby leader), or a replica following someone. */
  role: 'leader' | 'replica';
  standbyCluster: boolean;
  /** Set when the server is a standby (a replica, or a standby leader): what it has replayed. */
  standby?: { replayLsn: bigint | null };
}

export interface SlotCycleResult {
  /** What was done (created, dropped, copied), for the log at INFO. */
  done: string[];
  /** What went wrong or is misconfigured, for the log at WARNING (repeats of the same problems are left out). */
  problems: string[];
  /** Logical slots to copy from the primary (the caller stops the server for that: a long action). */
  copy: WantedSlot[];
}

export class SlotKeeper {
  private owned = new Set<string>();
  /** Positions of the wanted slots as last read on this server (published by the leader). */
  private positions: Record<string, bigint> = {};
  private lastProblems = '';
  private readonly retention = new SlotRetention();

  async keep(pg: LocalPostgres, cycle: SlotCycle): Promise<SlotCycleResult> {
    const { view, me, tags, dynamic, role, standbyCluster, standby } = cycle;
    const wanted = wantedSlotSet({ name: me, role, tags }, { members: view.members, leaderName: view.leader?.name ?? null, status: view.status }, dynamic, { standbyCluster });
    const applied = await pg.syncSlots({ wanted: wanted.slots, owned: this.owned, ignore: ignoreRules(dynamic), ...(standby ? { standby } : {}) });
    this.owned = applied.owned;
    this.positions = applied.positions;
    const done: string[] = [];
    const errors: string[] = [];
    for (const r of applied.results) {
      const a = r.action;
      if (r.error !== undefined) errors.push(`could not ${a.kind} replication slot ${a.kind === 'drop' || a.kind === 'skip' ? a.name : a.slot.name}: ${r.error}`);
      else if (a.kind === 'create') done.push(`created replication slot ${a.slot.name} (${a.reason})`);
      else if (a.kind === 'drop') done.push(`dropped replication slot ${a.name}: ${a.reason}`);
      else if (a.kind === 'skip') errors.push(a.reason);
    }
    // Configuration problems repeat every cycle: said once, and again when they change.
    const key = wanted.problems.join('\n');
    const problems = key !== this.lastProblems ? wanted.problems : [];
    this.lastProblems = key;
    return { done, problems: [...problems, ...errors], copy: applied.copy };
  }

  /** On taking the leader key: the retention of the previous leader's `retain_slots` starts again. */
  leaderAcquired(retained: readonly string[], nowMonoMs: number): void {
    this.retention.restart(retained, nowMonoMs);
  }

  /**
   * What the leader publishes with its renewal (status key): the positions of its slots and the
   * retained member slots; `expired` names the slots whose retention ended (for the log).
   */
  status(view: ClusterView, me: string, dynamic: DynamicConfig, lastLsn: bigint, nowMonoMs: number): { slots: Record<string, bigint>; retainSlots: string[]; expired: string[] } {
    const slots = publishedSlots(this.positions, me, lastLsn, dynamic, view.members);
    const permanentPhysical = new Set(
      Object.entries((dynamic.slots ?? {}) as Record<string, Parameters<typeof permanentSlotType>[0]>)
        .filter(([, spec]) => permanentSlotType(spec) === 'physical')
        .map(([name]) => name),
    );
    const { retain, expired } = this.retention.update({ me, members: view.members, held: Object.keys(this.positions), permanentPhysical, ttlMs: memberSlotsTtlMs(dynamic), nowMonoMs });
    return { slots, retainSlots: retain, expired };
  }

  /** Forget the positions read (after a promotion or restart they are read again). */
  reset(): void {
    this.positions = {};
  }
}

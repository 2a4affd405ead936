/**
 * The executor's slot duties, each cycle (slot-keeper.ts keeps what carries over between cycles):
 * the leader's slots and the positions it publishes with its renewal, a replica's slots after the
 * cycle's action, and the logical slots a replica must copy from the primary, which needs a restart
 * and so runs as a long action. Failures here are logged and never stop the cycle: a slot problem
 * must not cost the leader its renewal.
 */
import type { DynamicConfig, HactlConfig } from '../../config/index.js';
import type { ClusterView } from '../../dcs/index.js';
import type { WantedSlot } from '../../postgres/index.js';
import type { LineLogger } from '../../logger.js';
import { messageOf } from '../error-text.js';
import type { LocalPostgres } from './local-postgres.js';
import type { LongActionBody } from './long-actions.js';
import { replicaSlotSource } from './failsafe.js';
import { memberAddress } from './member-addresses.js';
import { SlotKeeper } from './slot-keeper.js';
import { publishedSlots, wantedSlotSet } from './slot-wanted.js';
import { standbyClusterOf } from './standby-cluster.js';
import type { DecideInput } from './types.js';

export interface MemberSlotsEnv {
  postgres: LocalPostgres;
  logger: LineLogger;
  local(): HactlConfig;
  monoNow(): number;
}

export class MemberSlots {
  private readonly keeper = new SlotKeeper();

  constructor(private readonly env: MemberSlotsEnv) {}

  /** Forget the positions read (after a promotion or restart they are read again). */
  reset(): void {
    this.keeper.reset();
  }

  /** On taking the leader key: the retention of the previous leader's `retain_slots` starts again. */
  leaderAcquired(view: ClusterView | null): void {
    this.keeper.leaderAcquired(view?.status.retainSlots ?? [], this.env.monoNow());
  }

  /** The slot positions and retained member slots the leader publishes with its renewal. */
  status(view: ClusterView | null, dynamic: DynamicConfig, lastLsn: bigint | null): { slots: Record<string, bigint>; retainSlots: string[] } | undefined {
    if (lastLsn === null || view === null) return undefined;
    const status = this.keeper.status(view, this.env.local().name, dynamic, lastLsn, this.env.monoNow());
    for (const name of status.expired) this.env.logger.info(`replication slot ${name} of an absent member expired after member_slots_ttl (${dynamic.member_slots_ttl} s)`);
    return status;
  }

  /**
   * The positions the leader would publish with its renewal, read from PostgreSQL now and changing
   * nothing (no slot created, dropped or advanced; the retention clock untouched): what a primary
   * without the store sends in POST /failsafe (Patroni's `state_handler.slots()`). Undefined, with a
   * warning, when they cannot be read: the round goes on without them, as Patroni's does. (Patroni
   * 3.0.2 sends its permanent logical slots only; the status key's set also moves physical copies.)
   */
  async currentStatusSlots(view: ClusterView | null, dynamic: DynamicConfig, lastLsn: bigint | null): Promise<Record<string, bigint> | undefined> {
    if (view === null || lastLsn === null) return undefined;
    const local = this.env.local();
    const wanted = wantedSlotSet({ name: local.name, role: 'leader', tags: local.tags }, { members: view.members, leaderName: local.name, status: view.status }, dynamic, {
      standbyCluster: standbyClusterOf(dynamic) !== null,
    });
    try {
      const positions = await this.env.postgres.slotPositions(wanted.slots);
      return publishedSlots(positions, local.name, lastLsn, dynamic, view.members);
    } catch (err) {
      this.env.logger.warn(`could not read the replication slots' positions for POST /failsafe: ${messageOf(err)}`);
      return undefined;
    }
  }

  /**
   * This member's slots as the leader, or as a replica; `standbyReplayLsn` (a standby leader, or a
   * replica) says the server is a standby. Returns the logical slots to copy from the primary.
   */
  async keep(dynamic: DynamicConfig, view: ClusterView, role: 'leader' | 'replica', standbyReplayLsn?: bigint | null): Promise<WantedSlot[]> {
    const { logger } = this.env;
    const local = this.env.local();
    try {
      const result = await this.keeper.keep(this.env.postgres, {
        view,
        me: local.name,
        tags: local.tags,
        dynamic,
        role,
        standbyCluster: standbyClusterOf(dynamic) !== null,
        ...(standbyReplayLsn !== undefined ? { standby: { replayLsn: standbyReplayLsn } } : {}),
      });
      for (const line of result.done) logger.info(line);
      for (const line of result.problems) logger.warn(line);
      return result.copy;
    } catch (err) {
      logger.warn(`could not check replication slots: ${messageOf(err)}`);
      return [];
    }
  }

  /**
   * A steady replica's slots (Patroni syncs them every cycle while no long action runs): physical slots
   * for the other members and permanent slots, advanced to the leader's positions — the status key's,
   * or those of the POST /failsafe it accepted while failsafe is active (failsafe.ts replicaSlotSource).
   * Returns the long action that copies missing logical slots from the leader (the server is restarted
   * for it), or null; none while the store is down or failsafe is active.
   */
  async keepAsReplica(input: DecideInput, cycleView: ClusterView | null, dynamic: DynamicConfig, busy: boolean): Promise<LongActionBody | null> {
    const me = this.env.local().name;
    // Which view, and whether copying is allowed: the store's, or a failsafe primary's positions (failsafe.ts).
    const source = replicaSlotSource(input, cycleView);
    const view = source?.view;
    if (!source || !view?.leader || view.leader.name === me || input.local.role !== 'replica' || input.config.pause || busy) return null;
    const copy = await this.keep(dynamic, view, 'replica', input.local.replayedLsn);
    if (copy.length === 0 || !source.copy) return null;
    const leaderName = view.leader.name;
    const from = memberAddress(view, leaderName);
    if (!from) return null;
    const { postgres: pg, logger } = this.env;
    logger.info(`copying logical slots ${copy.map((s) => s.name).join(', ')} from the primary ${leaderName}`);
    return async () => {
      const { copied, problems } = await pg.copyLogicalSlots(from, copy);
      for (const line of problems) logger.warn(line);
      if (copied.length > 0) logger.info(`copied logical slots ${copied.join(', ')} from ${leaderName}; PostgreSQL restarted with them`);
    };
  }
}

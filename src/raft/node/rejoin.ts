/**
 * A member asking the cluster about itself, as pysyncobj's auto-join does, in three cases:
 * - new: started with an empty data dir and the partner_addrs of a running group, it asks to be
 *   added (it catches up as a learner, then the leader promotes it);
 * - learner: it asks again to be promoted (the promotion is the leader's volatile plan, lost when
 *   leadership moves);
 * - recovering (after `hactl raft recover`): it lost its log, so it does not vote; it asks to be
 *   demoted to learner (the leader answers with the index D of that configuration entry), and
 *   votes again only once its own log holds a later configuration entry listing it as a voter: the
 *   leader promotes it only on acknowledgements sent after D, and D committed on a majority that
 *   did not count it, so that majority holds everything committed before — the member's lost
 *   promises no longer matter. A configuration entry before D listing it as voter (its history,
 *   replayed while catching up) does not count.
 * A member that was removed is none of these: it does not rejoin by itself (an operator adds it).
 *
 * Requests go to the leader when known, else to the partners in turn (any member forwards).
 */
import type { MembershipResult } from '../admin/protocol.js';
import type { Membership } from '../core/types.js';
import type { Logger } from '../kv/types.js';
import type { RecoveryState } from '../storage/types.js';
import { errorMessage } from './errors.js';

const RETRY_MS = 1_000;
/** After an accepted request, give the leader time to catch the member up before asking again. */
const AFTER_SUCCESS_MS = 3_000;
const REQUEST_TIMEOUT_MS = 5_000;

export interface RejoinView {
  membership: Membership;
  /** Index of the entry carrying `membership`: 0 = the bootstrap membership from partner_addrs. */
  membershipIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  leader: string | null;
}

export interface RejoinHost {
  readonly selfAddr: string;
  readonly partners: readonly string[];
  now(): number;
  view(): RejoinView;
  /** Ask `to` (forwarded to the leader) to add this member; `recovering` asks for a demotion first. */
  sendJoin(to: string, recovering: boolean, timeoutMs: number): Promise<MembershipResult>;
  /** Persist the recovery state (durable with the next sync). */
  saveRecovery(state: RecoveryState | null): void;
  setCanVote(canVote: boolean): void;
  logger: Logger;
}

export type JoinNeed = 'recover' | 'promote' | 'join' | null;

export class RejoinKeeper {
  private inFlight = false;
  private nextAt = 0;
  private partnerTurn = 0;
  private lastFailure: string | null = null;
  private announced = false;
  private removedNoted = false;

  constructor(
    private readonly host: RejoinHost,
    private recovery: RecoveryState | null,
  ) {
    if (recovery) host.setCanVote(false);
  }

  get recovering(): boolean {
    return this.recovery !== null;
  }

  /** What this member needs from the leader now. */
  need(v: RejoinView = this.host.view()): JoinNeed {
    const self = this.host.selfAddr;
    if (this.recovery && this.recovery.learnerAt === null) return 'recover';
    if (v.membership.learners.includes(self)) return 'promote';
    const fresh = v.membershipIndex === 0 && v.lastIndex === 0 && v.snapshotIndex === 0;
    if (fresh && this.host.partners.length > 0) return 'join';
    return null;
  }

  /** After every applied batch and tick: follow this member's own membership through a recovery. */
  observe(v: RejoinView = this.host.view()): void {
    const self = this.host.selfAddr;
    const m = v.membership;
    const learnerAt = this.recovery?.learnerAt ?? null;
    if (learnerAt !== null && v.membershipIndex > learnerAt && m.voters.includes(self)) {
      this.recovery = null;
      this.host.saveRecovery(null);
      // Any vote is persisted after the cleared recovery state (same file, call order).
      this.host.setCanVote(true);
      this.host.logger.info(`raft: member ${self} has caught up and is a voter again (configuration at index ${v.membershipIndex}): recovery complete, voting again`);
    } else if (learnerAt !== null && v.lastIndex >= learnerAt && v.membershipIndex < learnerAt) {
      // Our log reached D without that demotion in it: a deposed leader's entry, since replaced. Ask again.
      this.recovery = { learnerAt: null };
      this.host.saveRecovery(this.recovery);
      this.host.logger.warn(`raft: the demotion of ${self} at index ${learnerAt} did not survive a leader change; asking again`);
    }
    const member = m.voters.includes(self) || m.learners.includes(self);
    if (!member && v.membershipIndex > 0 && !this.recovery && !this.removedNoted) {
      this.removedNoted = true;
      this.host.logger.warn(
        `raft: ${self} is not a member of the cluster (voters ${m.voters.join(', ')}): it was removed and does not rejoin by itself; ` +
          `add it with hactl raft add ${self}`,
      );
    }
  }

  /** Called on every tick; sends at most one request at a time. */
  tick(now: number): void {
    if (this.inFlight || now < this.nextAt) return;
    const v = this.host.view();
    const need = this.need(v);
    if (need === null) return;
    const to = v.leader !== null && v.leader !== this.host.selfAddr ? v.leader : this.nextPartner();
    if (to === null) return;
    if (!this.announced) {
      this.announced = true;
      const why = need === 'recover' ? 'recovering from a lost log: asking to be demoted to learner and caught up' : need === 'join' ? 'new member: asking to be added' : 'learner: asking to be promoted once caught up';
      this.host.logger.info(`raft: ${this.host.selfAddr} ${why} (via ${to})`);
    }
    this.inFlight = true;
    const recovering = need === 'recover';
    this.host.sendJoin(to, recovering, REQUEST_TIMEOUT_MS).then(
      (result) => {
        this.inFlight = false;
        this.nextAt = this.host.now() + AFTER_SUCCESS_MS;
        if (this.lastFailure !== null) this.host.logger.info(`raft: join request accepted: ${result.message}`);
        else this.host.logger.debug(`raft: join request accepted: ${result.message}`);
        this.lastFailure = null;
        if (recovering && this.recovery?.learnerAt === null && result.learners.includes(this.host.selfAddr) && typeof result.configIndex === 'number') {
          this.recovery = { learnerAt: result.configIndex };
          this.host.saveRecovery(this.recovery);
          this.host.logger.info(`raft: recovering member ${this.host.selfAddr} is a learner from index ${result.configIndex}, catching up from the leader`);
        }
      },
      (err: unknown) => {
        this.inFlight = false;
        this.nextAt = this.host.now() + RETRY_MS;
        const why = errorMessage(err);
        // One line per distinct reason, not one per second.
        if (why !== this.lastFailure) this.host.logger.warn(`raft: asking ${to} to add ${this.host.selfAddr} failed: ${why}; retrying`);
        this.lastFailure = why;
      },
    );
  }

  private nextPartner(): string | null {
    const partners = this.host.partners;
    if (partners.length === 0) return null;
    return partners[this.partnerTurn++ % partners.length]!;
  }
}

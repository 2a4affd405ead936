/**
 * Keeping the leader lease, and what is tied to it: the acquire/renew/release writes, the lease
 * belief decide reads (HaSelfState.leaseDeadlineMonoMs), the watchdog and the fence.
 *
 * The belief is the deadline the store returned for the last CONFIRMED write (src/dcs/lease.ts):
 * this file computes none of its own. A write that throws (outcome unknown) leaves the previous
 * deadline in place; a write that did not take ends the belief. The watchdog is fed and the fence
 * re-armed only after a confirmed write; both stand down only once PostgreSQL is no primary.
 */
import type { Dcs, LeaderRelease } from '../../dcs/index.js';
import type { LineLogger } from '../../logger.js';
import type { FenceHooks } from '../fence/index.js';
import type { Watchdog } from '../watchdog/index.js';
import type { HaSelfState } from './types.js';

export interface LeaseKeeperEnv {
  dcs: Dcs;
  logger: LineLogger;
  watchdog: Watchdog | null;
  fence: FenceHooks | null;
}

export class LeaseKeeper {
  constructor(
    private readonly env: LeaseKeeperEnv,
    /** Where the belief lives: the executor's self state, read by decide every cycle. */
    private readonly self: Pick<HaSelfState, 'leaseDeadlineMonoMs'>,
  ) {}

  /**
   * Create the leader key; true when this member won it (the fence is armed with the new deadline).
   * `armFence` false: a standby cluster's standby leader, which never runs writable, so there is
   * nothing for the fence to stop when the lease runs out (killing it would only stop replication).
   */
  async acquire(ttlMs: number, paused: boolean, armFence = true): Promise<boolean> {
    const deadline = await this.env.dcs.attemptToAcquireLeader(ttlMs);
    if (deadline === null) return false;
    this.self.leaseDeadlineMonoMs = deadline;
    if (armFence) await this.env.fence?.leaseConfirmed({ leaseDeadlineMonoMs: deadline, paused, release: this.claim() });
    return true;
  }

  /** The key exactly as the write just confirmed left it, for the fence's release (issue 17). */
  private claim(): LeaderRelease | null {
    return this.env.dcs.leaderRelease?.() ?? null;
  }

  /**
   * Renew our key (publishing `lastLsn` when PostgreSQL runs as the primary); true when it took,
   * then the watchdog is fed and the fence re-armed. `local`: what PostgreSQL looked like this
   * cycle — 'primary' (is, or may come up as, one: a lost key leaves the fence armed for the
   * demotion to release), 'replica' (answered SQL in recovery), or 'not-running' (the agent's
   * belief only: the fence checks for itself before it stands down).
   */
  async renew(ttlMs: number, lastLsn: bigint | null, paused: boolean, local: 'primary' | 'replica' | 'not-running', armFence = true, slots?: { slots: Record<string, bigint>; retainSlots: readonly string[] }): Promise<boolean> {
    // `slots`: the leader's slot positions and retained member slots (slot-keeper.ts), published with lastLsn.
    const deadline = await this.env.dcs.updateLeader(ttlMs, lastLsn, slots?.slots, slots?.retainSlots);
    this.self.leaseDeadlineMonoMs = deadline;
    if (deadline === null) {
      // Lost with no primary running: nothing to enforce (a primary is demoted by ifLockLost, which releases the fence after the stop).
      if (local !== 'primary') await this.env.fence?.release('leader key lost', local === 'replica' ? 'replica' : 'stopped');
      return false;
    }
    this.env.watchdog?.keepalive();
    // The fence counts back from the same deadline (fence/deadline.ts); a standby leader's stands down (see acquire).
    if (armFence) await this.env.fence?.leaseConfirmed({ leaseDeadlineMonoMs: deadline, paused, release: this.claim() });
    else await this.env.fence?.release('standby leader: nothing writable to fence', local === 'replica' ? 'replica' : 'stopped');
    return true;
  }

  /**
   * failsafe_mode: every member accepted our POST /failsafe, so the primary may run until
   * `untilMonoMs` without the key (ha/failsafe.ts). Fed and armed as after a renewal, to that deadline:
   * if the next round does not come in time, the fence stops PostgreSQL before the members' promise ends.
   */
  async failsafeConfirmed(untilMonoMs: number, paused: boolean): Promise<void> {
    this.env.watchdog?.keepalive();
    await this.env.fence?.leaseConfirmed({ leaseDeadlineMonoMs: untilMonoMs, paused });
  }

  /**
   * Delete our key (with the shutdown checkpoint's `lastLsn` when known, so a replica may take
   * over at once). Every caller has stopped PostgreSQL (`seen` 'stopped': the fence checks) or runs
   * it as a replica it saw answer in recovery ('replica').
   */
  async release(lastLsn: bigint | null = null, seen: 'stopped' | 'replica' = 'stopped'): Promise<boolean> {
    this.self.leaseDeadlineMonoMs = null;
    this.env.watchdog?.disable();
    if (this.env.fence && !(await this.env.fence.release('leader key released', seen))) {
      // Deleting the key now would let a replica promote before the fence's deadline while our
      // PostgreSQL may still run; without renewals the key expires only after that deadline.
      this.env.logger.error('not deleting the leader key: the fence still sees PostgreSQL processes in the data directory; the key expires after the fence deadline');
      return false;
    }
    await this.env.dcs.deleteLeader(lastLsn);
    return true;
  }

  /** Stop believing without deleting the key (it is someone else's, or the store cannot be reached). */
  forget(): void {
    this.self.leaseDeadlineMonoMs = null;
  }

  /** PostgreSQL was stopped: the fence stands down once it sees nothing running (`reason` goes to its log). */
  async primaryStopped(reason: string): Promise<void> {
    await this.env.fence?.release(reason, 'stopped');
  }

  /** Arms the watchdog before becoming primary; false (logged) when the config requires one and it failed. */
  async armWatchdog(failure = 'Not promoting self because watchdog could not be activated'): Promise<boolean> {
    const wd = this.env.watchdog;
    if (!wd) return true;
    // The controller has already logged its own warning or refusal reason.
    const activation = await wd.activate();
    if (activation.ok) return true;
    this.env.logger.error(failure);
    return false;
  }

  /**
   * A leader running unpaused has its watchdog active (Patroni's enforce_primary_role): after a pause
   * closed it, or after an agent restart that found its lease still valid. False when a required one
   * cannot be activated: the caller demotes.
   */
  async ensureWatchdog(): Promise<boolean> {
    if (!this.env.watchdog || this.env.watchdog.isActive) return true;
    return this.armWatchdog('Demoting self because watchdog could not be activated');
  }

  keepalive(): void {
    this.env.watchdog?.keepalive();
  }

  /** Maintenance mode and demotions: nothing may reset the host for a primary we no longer run as leader. */
  disableWatchdog(): void {
    this.env.watchdog?.disable();
  }
}

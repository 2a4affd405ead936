/**
 * The agent ↔ fence process protocol: newline-delimited JSON, agent → fence on the child's stdin,
 * fence → agent on its stdout (its stderr carries log lines). The `…MonoNs` times are the holder
 * clock (holder-clock.ts: the host's CLOCK_BOOTTIME, suspend included) in nanoseconds as decimal
 * strings (bigint does not survive JSON); the names are kept so records of older versions still read.
 *
 * Type-only module: fence-process.ts imports it with `import type`, so the fence process loads no
 * code of ours besides its own file.
 */

import type { LeaderRelease } from '../../dcs/types.js';

export type AgentToFence =
  /**
   * The local PostgreSQL may run as a primary until `deadlineMonoNs`; past it the fence kills the
   * postmaster (and its children). A later `arm` replaces the deadline; one already past fences at once.
   */
  | {
      type: 'arm';
      seq: number;
      dataDir: string;
      postmasterPid: number | null;
      deadlineMonoNs: string;
      reason: string;
      /**
       * Issue 17: the leader key exactly as this renewal wrote it, and where the store answers: the
       * fence deletes it (compare-and-delete) once the primary's death is certain (death-release.ts).
       * Carries the store's credentials: the pipe is private, and the fence never logs them.
       */
      release?: LeaderRelease | null;
      /**
       * How many kills of this fence process the agent had heard of (`fenced` events) when it sent
       * this arm. A renewal can land just as the deadline passes: its arm then reaches a fence that has
       * already killed PostgreSQL, sent before the agent knew. Such an arm is refused, not armed —
       * the deadline it carries is for a server that is gone, and armed it would kill the replica the
       * agent starts next. Absent: accepted (an agent of before this field).
       */
      fencedSeen?: number;
    }
  /**
   * Stop enforcing (demoted, paused, clean shutdown). `ifStopped`: only if the fence itself sees
   * nothing running in the data directory (data-dir-processes.ts); otherwise it stays armed and the
   * ack says why (`refused`). Without it (pause, a replica the agent saw answer in recovery) at once.
   */
  | { type: 'disarm'; seq: number; reason: string; ifStopped?: boolean }
  | { type: 'ping'; seq: number };

export interface FenceState {
  armed: boolean;
  /** Holder clock ns (CLOCK_BOOTTIME), decimal; null when disarmed. */
  deadlineMonoNs: string | null;
  dataDir: string | null;
  /** How many times this fence process killed a postmaster. */
  fencedCount: number;
}

export type FenceToAgent =
  | { type: 'ready'; pid: number; state: FenceState }
  /** Answer to arm / disarm / ping, in order; `refused`: why a conditional disarm did not happen. */
  | { type: 'ack'; seq: number; state: FenceState; refused?: string }
  | { type: 'fenced'; record: FencedRecord };

/** What the fence writes to the record file (and sends) when it killed PostgreSQL. */
export interface FencedRecord {
  /** ISO wall-clock time of the kill (compared with the postmaster's start time by the agent). */
  fencedAt: string;
  fencedAtMonoNs: string;
  deadlineMonoNs: string;
  /** How late the kill was after the deadline, ms (timer and scheduling latency). */
  lateByMs: number;
  reason: string;
  dataDir: string;
  postmasterPid: number | null;
  /** Every pid that was sent SIGKILL. */
  killedPids: number[];
  /** Whether the agent was still connected (false: it had died, the fence enforced alone). */
  agentConnected: boolean;
  fencePid: number;
}

/** The fence process's settings: one JSON argument after the entry script (no parsing library needed). */
export interface FenceProcessConfig {
  /** Path of the record file written after a kill (the agent reads it when it wakes or restarts). */
  recordFile: string;
  /** File the fence appends its log lines to as well as stderr (they outlive the agent); null: stderr only. */
  logFile: string | null;
  /** Pid file, so a restarted agent can retire an orphaned fence its own fence supersedes; null: none. */
  pidFile: string | null;
  /**
   * After a kill, how long an orphaned fence (agent gone) keeps killing a postmaster that comes up
   * in the data directory without standby.signal (a `pg_ctl start` the frozen agent had launched).
   */
  trippedWatchMs: number;
  /**
   * `fence.on_agent_death` (issue 17): `wait` (default) — the agent died but PostgreSQL runs: enforce
   * the deadline (systemd restarts the agent, which resumes while the lease holds); `kill` — kill
   * PostgreSQL at once and release the key.
   */
  onAgentDeath?: 'wait' | 'kill';
  /**
   * The kind of store a release goes through: the fence loads its client while idle after start,
   * not at the first arm, when a new primary's renewals need quick answers (an etcd client costs
   * 0.2 s of CPU idle, seconds on a starved host). No secret: the Raft key is derived at that arm.
   */
  store?: 'raft' | 'etcd3' | null;
  /** Tests only: a file holding ms added to the holder clock (simulates a suspend the fence slept through). */
  testClockJumpFile?: string | null;
  /** Tests only: block the event loop this long once, right after the first arm (a fence starved of CPU). */
  testStallOnceMs?: number;
}

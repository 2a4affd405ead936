/**
 * The agent ↔ fence process protocol: newline-delimited JSON, agent → fence on the child's stdin,
 * fence → agent on its stdout (its stderr carries log lines). Monotonic times are the host's
 * CLOCK_MONOTONIC in nanoseconds as decimal strings (bigint does not survive JSON).
 *
 * Type-only module: fence-process.ts imports it with `import type`, so the fence process loads no
 * code of ours besides its own file.
 */

export type AgentToFence =
  /**
   * The local PostgreSQL may run as a primary until `deadlineMonoNs`; past it the fence kills the
   * postmaster (and its children). A later `arm` replaces the deadline; one already past fences at once.
   */
  | { type: 'arm'; seq: number; dataDir: string; postmasterPid: number | null; deadlineMonoNs: string; reason: string }
  /** Stop enforcing (demoted, paused, clean shutdown). */
  | { type: 'disarm'; seq: number; reason: string }
  | { type: 'ping'; seq: number };

export interface FenceState {
  armed: boolean;
  /** Host CLOCK_MONOTONIC ns, decimal; null when disarmed. */
  deadlineMonoNs: string | null;
  dataDir: string | null;
  /** How many times this fence process killed a postmaster. */
  fencedCount: number;
}

export type FenceToAgent =
  | { type: 'ready'; pid: number; state: FenceState }
  /** Answer to arm / disarm / ping, in order. */
  | { type: 'ack'; seq: number; state: FenceState }
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
}

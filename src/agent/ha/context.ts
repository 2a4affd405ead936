/**
 * The per-decision scratchpad shared by the decide modules: the input, the notes (INFO/WARNING
 * lines) collected on the way, and DCS housekeeping found along the way (a failover key to clean
 * up). Built fresh for every `decide` call, so the decision stays a pure function of its input.
 */
import type { ClusterView, Member } from '../../dcs/index.js';
import type { StandbyCluster } from './standby-cluster.js';
import type { Decision, DecideInput, LocalPostgresState, Note } from './types.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A decision before the notes are attached (decide.ts attaches the cycle's notes to the final one). */
export type DecisionDraft = DistributiveOmit<Decision, 'notes'>;

export class Ctx {
  readonly notes: Note[] = [];
  /** Version of a failover key to delete this cycle ("Cleaning up failover key"). */
  clearFailover: number | undefined;
  /** New start of primary_race_backoff's countdown (null: reset); undefined: unchanged. */
  raceBackoffSinceMonoMs: number | null | undefined;

  constructor(
    readonly input: DecideInput,
    /** Non-null: only called on paths where the DCS answered. */
    readonly view: ClusterView,
  ) {}

  get me(): string {
    return this.input.config.name;
  }

  get local(): LocalPostgresState {
    return this.input.local;
  }

  get paused(): boolean {
    return this.input.config.pause;
  }

  /** The standby cluster settings when this is a standby cluster (no member may run writable). */
  get standby(): StandbyCluster | null {
    return this.input.config.standbyCluster ?? null;
  }

  get iAmLeader(): boolean {
    return this.view.leader?.name === this.me;
  }

  member(name: string): Member | undefined {
    return this.view.members.find((m) => m.name === name);
  }

  info(message: string): void {
    this.notes.push({ level: 'info', message });
  }

  warn(message: string): void {
    this.notes.push({ level: 'warning', message });
  }

  error(message: string): void {
    this.notes.push({ level: 'error', message });
  }
}

/** A decision with no notes of its own. */
export function bare(draft: DecisionDraft): Decision {
  return { ...draft, notes: [] } as Decision;
}

/**
 * PostgreSQL is, or is becoming, a writable primary: running out of recovery, or starting without
 * standby.signal (a restart in place). Both must stop when the key is not ours.
 */
export function runsAsPrimary(local: LocalPostgresState): boolean {
  return local.role === 'primary' || (local.role === 'starting' && local.wasPrimary);
}

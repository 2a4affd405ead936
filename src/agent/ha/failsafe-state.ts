/**
 * What failsafe mode remembers between cycles (failsafe.ts has the rules): the last known `failsafe`
 * key (the store may be gone when it is needed) and leader, the primary's POST /failsafe this member
 * accepted, and until when this member runs as a primary on failsafe's word. Shared by the HA loop
 * and the REST handler of POST /failsafe; no I/O.
 */
import type { ClusterView, FailsafeTopology } from '../../dcs/index.js';
// The codec's LSN decoding only (pure): the store's status key and POST /failsafe carry slots alike.
import { lsnFromJson } from '../../dcs/codec.js';
import type { FailsafePing } from '../../protocol/index.js';

/** What the acceptance rule needs to know about this member right now. */
export interface FailsafeSelf {
  name: string;
  failsafeMode: boolean;
  /** PostgreSQL answered as a primary in the last cycle. */
  runsAsPrimary: boolean;
  /** This member believes it holds the leader key, or a promotion is under way. */
  leaderOrPromoting: boolean;
  /** Received/replayed position, returned in the `lsn` header (Patroni's). */
  walLsn: bigint | null;
}

/** The answer to POST /failsafe: 200 `Accepted` (with `lsn`), 500 with the reason, or 502 when failsafe_mode is off. */
export interface FailsafeReply {
  status: 200 | 400 | 500 | 502;
  text: string;
  lsn?: string;
}

export class FailsafeState {
  /** The `failsafe` key as last read (or written by us as the leader); null when none is known. */
  topology: FailsafeTopology | null = null;
  /** The holder of the leader key in the last view that had one. */
  lastLeader: string | null = null;
  /**
   * The last POST /failsafe accepted: from whom, when (monotonic ms), and the slot positions it carried
   * (null when it had none; Patroni's Failsafe keeps `slots` the same way).
   */
  private accepted: { name: string; atMonoMs: number; slots: Record<string, bigint> | null } | null = null;
  /**
   * The WAL position the last accepted POST /failsafe reported, kept past ttl until the store shows a
   * leader again: the `status` key stopped moving while the primary ran without the store, so a race
   * right after the store returns measures lag against this too (a member cut off from the primary's
   * PostgreSQL but not from its REST API must not win with what it lacks).
   */
  leaderLsn: bigint | null = null;
  /** This primary runs on failsafe's word until then (monotonic ms); null when it does not. */
  activeUntilMonoMs: number | null = null;
  /**
   * Set by the loop, in the same synchronous step as the decision to take the leader key, until that
   * cycle ends: a POST /failsafe arriving meanwhile is refused, never accepted behind the race.
   */
  takingKey = false;

  constructor(private readonly monoNow: () => number) {}

  /** A view read from the store: its `failsafe` key and leader become the last known ones. */
  observe(view: ClusterView): void {
    this.topology = view.failsafe ?? null;
    if (view.leader) {
      this.lastLeader = view.leader.name;
      this.leaderLsn = null;
    }
  }

  /** The leader wrote the key. */
  wrote(topology: FailsafeTopology): void {
    this.topology = topology;
  }

  /** The primary that pinged us less than `ttlMs` ago, or null. */
  pingedBy(ttlMs: number): string | null {
    const a = this.accepted;
    return a !== null && this.monoNow() - a.atMonoMs < ttlMs ? a.name : null;
  }

  /**
   * The slot positions of the POST /failsafe accepted less than `ttlMs` ago, or null (none, too old, or
   * it carried none). Replicas advance their copies of permanent slots to them while the store is away.
   */
  pingedSlots(ttlMs: number): Record<string, bigint> | null {
    return this.pingedBy(ttlMs) === null ? null : (this.accepted?.slots ?? null);
  }

  /** Whether failsafe mode is active here: a primary kept alive by it, or a replica pinged within ttl (Patroni's is_active). */
  isActive(ttlMs: number): boolean {
    const until = this.activeUntilMonoMs;
    return (until !== null && this.monoNow() < until) || this.pingedBy(ttlMs) !== null;
  }

  /**
   * POST /failsafe from `ping.name`. Accepting promises not to race for the leader key for ttl
   * (failsafe.ts), so it is refused when that promise could be false or could hide a second primary:
   * this member runs as a primary (Patroni's only check), holds or is taking the key itself, or knows
   * another member as the leader ("accept when the caller is the last known leader").
   */
  accept(ping: unknown, self: FailsafeSelf): FailsafeReply {
    if (!self.failsafeMode) return { status: 502, text: 'failsafe_mode is not enabled' };
    const name = typeof ping === 'object' && ping !== null ? (ping as Partial<FailsafePing>).name : undefined;
    if (typeof name !== 'string' || name === '') return { status: 400, text: 'POST /failsafe needs a JSON body with the leader\'s name' };
    if (self.runsAsPrimary) return { status: 500, text: 'Running as a leader' };
    if (name === self.name) return { status: 500, text: 'a member does not answer its own POST /failsafe' };
    if (self.leaderOrPromoting || this.takingKey) return { status: 500, text: `${self.name} holds or is taking the leader key` };
    if (this.lastLeader !== null && this.lastLeader !== name) return { status: 500, text: `the last known leader is ${this.lastLeader}, not ${name}` };
    this.accepted = { name, atMonoMs: this.monoNow(), slots: slotsOfPing((ping as Partial<FailsafePing>).slots) };
    const lsn = (ping as Partial<FailsafePing>).xlog_location;
    if (typeof lsn === 'number' && Number.isSafeInteger(lsn) && lsn >= 0) this.leaderLsn = BigInt(lsn);
    return { status: 200, text: 'Accepted', ...(self.walLsn === null ? {} : { lsn: self.walLsn.toString() }) };
  }
}

/**
 * The `slots` of a POST /failsafe body (slot name → LSN as a number, or a decimal string past 2^53, as the
 * status key holds them), or null when it has none. Entries that are not a position are left out: a
 * position we cannot read is one we do not advance to.
 */
export function slotsOfPing(raw: unknown): Record<string, bigint> | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const out: Record<string, bigint> = {};
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    const lsn = lsnFromJson(value);
    if (lsn !== null) out[name] = lsn;
  }
  return out;
}

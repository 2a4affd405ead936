/**
 * member_slots_ttl on the leader (Patroni 4's _build_retain_slots): every member slot the leader holds for
 * a member that is present is stamped "seen now"; the names seen within member_slots_ttl are published
 * as `retain_slots` in the status key, and every member keeps a physical slot for each of them
 * (slot-wanted.ts). So a replica that is down longer than ttl, whose member key expired, still finds its
 * slot and the WAL it needs when it comes back, on the leader and on whoever is promoted meanwhile.
 * Pure apart from the times handed in (monotonic ms).
 */
import type { Member } from '../../dcs/index.js';
import { slotNameFromMemberName } from '../../postgres/index.js';

export class SlotRetention {
  /** Slot name → when its member was last seen present (monotonic ms). */
  private lastSeen = new Map<string, number>();

  /**
   * On taking the leader key: what the previous leader retained starts its ttl again now (Patroni does
   * the same; the previous leader's clock is not ours).
   */
  restart(retained: readonly string[], nowMonoMs: number): void {
    this.lastSeen = new Map(retained.map((name) => [name, nowMonoMs]));
  }

  /**
   * The `retain_slots` to publish. `held`: names of the slots the leader has now (with positions);
   * `permanentPhysical`: names of permanent physical slots (kept anyway, never listed). Returns the
   * list and the names that expired with this call (for the log).
   */
  update(input: { me: string; members: readonly Member[]; held: readonly string[]; permanentPhysical: ReadonlySet<string>; ttlMs: number; nowMonoMs: number }): { retain: string[]; expired: string[] } {
    const { me, members, held, permanentPhysical, ttlMs, nowMonoMs } = input;
    if (held.length > 0) {
      const present = new Set(members.filter((m) => m.tags.nostream !== true).map((m) => slotNameFromMemberName(m.name)));
      // Our own member key may be missing for a moment: our name then shows up in the list, briefly (as in Patroni).
      if (!members.some((m) => m.name === me)) present.add(slotNameFromMemberName(me));
      for (const name of held) if (present.has(name) && !permanentPhysical.has(name)) this.lastSeen.set(name, nowMonoMs);
    }
    const expired: string[] = [];
    for (const [name, seenMs] of this.lastSeen) {
      if (seenMs + ttlMs <= nowMonoMs) {
        this.lastSeen.delete(name);
        expired.push(name);
      }
    }
    return { retain: [...this.lastSeen.keys()].sort(), expired };
  }
}

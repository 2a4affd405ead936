/**
 * Which replication slots a member wants, from the cluster view and the dynamic config: Patroni 4's rules
 * (dcs get_replication_slots), pure. Member slots: with member_slots_ttl > 0 every member keeps a physical
 * slot for every other streaming member, so whoever is promoted already holds one for everybody (replicas
 * advance theirs to the positions the leader publishes); with 0, the leader holds slots for the members
 * that stream from it and a cascade source for the members that name it in `replicatefrom`. Permanent
 * slots (`slots:`) are kept on the leader and on every replica that may be promoted; logical ones are
 * copied onto replicas and advanced, so a logical consumer resumes on a promoted replica. Slots of
 * members that left are kept while `retain_slots` of the status key lists them (slot-retention.ts).
 */
import type { DynamicConfig } from '../../config/index.js';
import type { ClusterStatus, Member, MemberTags } from '../../dcs/index.js';
import { isValidSlotName, slotNameFromMemberName, type IgnoreSlotRule, type WantedSlot } from '../../postgres/index.js';

/** The part of this member's state the rules look at. */
export interface SlotMember {
  name: string;
  /** The leader (primary or standby leader) holds the key; a replica follows someone. */
  role: 'leader' | 'replica';
  tags: MemberTags;
}

export interface SlotView {
  members: readonly Member[];
  leaderName: string | null;
  status: ClusterStatus;
}

export interface WantedSlotSet {
  slots: WantedSlot[];
  /** Configuration mistakes found on the way (logged, the slot is left out), as Patroni logs them. */
  problems: string[];
}

type PermanentSpec = { type?: string; database?: string; plugin?: string; cluster_type?: string } | null | 0 | '';

/**
 * What a permanent slot's value says it is (Patroni's is_physical_slot / is_logical_slot), or null when it
 * is neither: a logical slot without both database and plugin (Patroni would take a typeless one with only
 * one of them as physical; hactl reports it instead of guessing).
 */
export function permanentSlotType(spec: PermanentSpec | undefined): 'physical' | 'logical' | null {
  if (!spec) return 'physical';
  const type = spec.type ?? (spec.database || spec.plugin ? 'logical' : 'physical');
  if (type === 'logical') return spec.database && spec.plugin ? 'logical' : null;
  return type === 'physical' ? 'physical' : null;
}

const replicateFrom = (m: { tags: MemberTags }): string | undefined => (typeof m.tags.replicatefrom === 'string' && m.tags.replicatefrom !== '' ? m.tags.replicatefrom : undefined);

/**
 * The slot this member's WAL comes through on the primary: its own, or the one of the member at the top of
 * its `replicatefrom` chain; null when it does not stream (nostream on the way, or a cycle). Patroni's
 * get_slot_name_on_primary.
 */
export function slotNameOnPrimary(me: { name: string; tags: MemberTags }, members: readonly Member[]): string | null {
  const seen = new Set<string>();
  let current: { name: string; tags: MemberTags } = me;
  for (;;) {
    seen.add(current.name);
    if (current.tags.nostream === true) return null;
    const from = replicateFrom(current);
    const upstream = from !== undefined && from !== current.name ? members.find((m) => m.name === from) : undefined;
    if (!upstream) return slotNameFromMemberName(current.name);
    if (seen.has(upstream.name)) return null;
    current = upstream;
  }
}

/** `ignore_slots` of the dynamic config as plan rules. */
export function ignoreRules(dynamic: DynamicConfig): IgnoreSlotRule[] {
  return (dynamic.ignore_slots ?? []).map((r) => ({ name: r.name, type: r.type, database: r.database, plugin: r.plugin }));
}

/** member_slots_ttl in ms. */
export function memberSlotsTtlMs(dynamic: DynamicConfig): number {
  return dynamic.member_slots_ttl * 1000;
}

/** The physical slots of the members (Patroni's _get_members_slots). */
function memberSlots(me: SlotMember, view: SlotView, ttlMs: number): { slots: Map<string, WantedSlot>; problems: string[] } {
  const leaderish = me.role === 'leader';
  const has = (name: string) => view.members.some((m) => m.name === name);
  const others = view.members.filter((m) => m.name !== me.name && m.tags.nostream !== true);
  // Whether a walsender here is expected to serve the member (its slot must not be advanced by us).
  const expectedActive = (m: Member): boolean => {
    const from = replicateFrom(m);
    return leaderish ? from === undefined || from === me.name || !has(from) : from === me.name && m.name !== view.leaderName;
  };
  const chosen = ttlMs > 0 ? others.filter((m) => me.tags.nofailover !== true || replicateFrom(m) === me.name) : others.filter(expectedActive);
  const slots = new Map<string, WantedSlot>();
  const byName = new Map<string, string[]>();
  for (const m of chosen) {
    const name = slotNameFromMemberName(m.name);
    byName.set(name, [...(byName.get(name) ?? []), m.name]);
    let lsn = view.status.slots[name] ?? 0n;
    // The leader's slot of a cascading member does not move by itself: the member's own position moves it.
    if (replicateFrom(m) !== undefined && m.xlogLocation !== null && m.xlogLocation > lsn) lsn = m.xlogLocation;
    slots.set(name, { name, type: 'physical', source: 'member', expectedActive: expectedActive(m), ...(lsn > 0n ? { lsn } : {}) });
  }
  const mine = slotNameFromMemberName(me.name);
  if (me.tags.nofailover !== true) {
    for (const name of view.status.retainSlots) {
      if (!slots.has(name) && name !== mine && isValidSlotName(name)) slots.set(name, { name, type: 'physical', source: 'retained' });
    }
  }
  const shared = [...byName].filter(([, names]) => names.length > 1);
  const problems = shared.length > 0 ? [`cluster members share a replication slot name: ${shared.map(([slot, names]) => `${names.join(', ')} map to ${slot}`).join('; ')}`] : [];
  return { slots, problems };
}

/** The slots this member wants, with the positions to advance them to. */
export function wantedSlotSet(me: SlotMember, view: SlotView, dynamic: DynamicConfig, options: { standbyCluster: boolean }): WantedSlotSet {
  if (!(dynamic.postgresql.use_slots ?? true)) return { slots: [], problems: [] };
  const { slots, problems } = memberSlots(me, view, memberSlotsTtlMs(dynamic));
  // Permanent slots (Patroni's _get_permanent_slots): never on a member that cannot be promoted; only
  // physical ones in a standby cluster or on a member whose WAL does not come from the primary.
  if (me.tags.nofailover !== true) {
    const physicalOnly = options.standbyCluster || slotNameOnPrimary(me, view.members) === null;
    const mine = slotNameFromMemberName(me.name);
    const cascading = new Map(view.members.filter((m) => replicateFrom(m) !== undefined).map((m) => [slotNameFromMemberName(m.name), m]));
    for (const [name, raw] of Object.entries((dynamic.slots ?? {}) as Record<string, PermanentSpec>)) {
      if (!isValidSlotName(name)) {
        problems.push(`invalid permanent replication slot name '${name}': only lower case letters, numbers and the underscore`);
        continue;
      }
      const type = permanentSlotType(raw);
      if (type === null) {
        problems.push(`bad value for slot '${name}' in slots: ${JSON.stringify(raw)} (a logical slot needs database and plugin)`);
        continue;
      }
      const published = view.status.slots[name] ?? 0n;
      if (type === 'physical') {
        const clusterType = raw ? raw.cluster_type : undefined;
        if (clusterType === (options.standbyCluster ? 'primary' : 'standby')) continue;
        // A member's slot comes first; a primary never holds a slot for itself.
        if (slots.has(name) || name === mine) continue;
        const member = cascading.get(name);
        const lsn = member?.xlogLocation && member.xlogLocation > published ? member.xlogLocation : published;
        // Expected active on the leader, unless the member of that name cascades from someone else.
        const expectedActive = me.role === 'leader' && member === undefined;
        slots.set(name, { name, type, source: 'permanent', expectedActive, ...(lsn > 0n ? { lsn } : {}) });
        continue;
      }
      if (physicalOnly) continue;
      if (slots.has(name)) {
        problems.push(`permanent logical replication slot '${name}' conflicts with the physical replication slot of a cluster member`);
        continue;
      }
      const spec = raw as { database: string; plugin: string };
      slots.set(name, { name, type, database: spec.database, plugin: spec.plugin, source: 'permanent', ...(published > 0n ? { lsn: published } : {}) });
    }
  }
  return { slots: [...slots.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)), problems };
}

/**
 * The positions the leader publishes in the status key (`slots`): with member_slots_ttl > 0 every slot it
 * keeps plus its own name at its WAL position (replicas keep a slot for the leader too), else only the
 * permanent ones (Patroni's maybe_filter_permanent_slots).
 */
export function publishedSlots(positions: Record<string, bigint>, me: string, lastLsn: bigint, dynamic: DynamicConfig, members: readonly Member[]): Record<string, bigint> {
  const all: Record<string, bigint> = { ...positions, [slotNameFromMemberName(me)]: lastLsn };
  if (memberSlotsTtlMs(dynamic) > 0) return all;
  const memberNames = new Set(members.map((m) => slotNameFromMemberName(m.name)));
  const permanent = (dynamic.slots ?? {}) as Record<string, PermanentSpec>;
  const out: Record<string, bigint> = {};
  for (const [name, lsn] of Object.entries(all)) {
    if (!(name in permanent)) continue;
    const type = permanentSlotType(permanent[name]);
    if (type === 'physical' || (type === 'logical' && !memberNames.has(name))) out[name] = lsn;
  }
  return out;
}

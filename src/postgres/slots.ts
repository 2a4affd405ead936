// Replication slots of one server, planned purely: which to create, drop, advance, or copy from the primary
// (`planSlots`). The agent decides which slots a member wants (src/agent/ha/slot-wanted.ts, Patroni's rules);
// slots-sql.ts reads pg_replication_slots and carries a plan out; slots-copy.ts copies logical slots onto a
// standby. Ownership matters: we only ever drop slots we created (or that the config names, or that are
// wanted but lost), so a slot made by hand or by a logical-decoding consumer survives unless ignore_slots
// says nothing about it and it is ours.

export type SlotType = 'physical' | 'logical';

/** A row of pg_replication_slots that the plan needs. */
export interface ExistingSlot {
  name: string;
  type: SlotType;
  active: boolean;
  database?: string | null;
  plugin?: string | null;
  /** restart_lsn; null when the slot reserves no WAL yet. */
  restartLsn?: bigint | null;
  /** Logical slots: what the consumer confirmed. */
  confirmedFlushLsn?: bigint | null;
  /** PostgreSQL 13+: `reserved`, `extended`, `unreserved` or `lost` (the WAL it needs is gone). */
  walStatus?: string | null;
}

export interface WantedSlot {
  name: string;
  type: SlotType;
  /** Logical slots: the database and output plugin. */
  database?: string;
  plugin?: string;
  /**
   * Why we want it: a member that streams (or may stream) from us, `slots:` in the config, or a member
   * that left less than member_slots_ttl ago (`retain_slots` of the status key).
   */
  source: 'member' | 'permanent' | 'retained';
  /**
   * The position the slot should be moved up to when no walsender here moves it: the leader's published
   * position (status key `slots`), or a cascading member's own. Absent: no feedback, leave it where it is.
   */
  lsn?: bigint;
  /** A walsender of this server is expected to use the slot (it moves the slot itself: never advance it). */
  expectedActive?: boolean;
}

/** `ignore_slots` entries: a slot matching every given field is left alone. */
export interface IgnoreSlotRule {
  name?: string;
  type?: SlotType;
  database?: string;
  plugin?: string;
}

export interface SlotPlanInput {
  existing: readonly ExistingSlot[];
  wanted: readonly WantedSlot[];
  /** Names of slots this agent created earlier (see SlotPlan.owned); only these are dropped when unwanted. */
  owned: ReadonlySet<string>;
  ignore?: readonly IgnoreSlotRule[];
  /**
   * Patroni's behaviour: drop every physical slot that is neither wanted nor ignored, whoever made it.
   * Off by default: a slot made by hand (e.g. for pg_receivewal) survives.
   */
  dropUnknownPhysical?: boolean;
  /**
   * The server is a standby: PostgreSQL 15 cannot create a logical slot there, so a missing one is copied
   * from the primary (`copy`), and logical slots are advanced to the leader's position, never past
   * `replayLsn` (what this standby has replayed).
   */
  standby?: { replayLsn: bigint | null };
}

export type SlotAction =
  | { kind: 'create'; slot: WantedSlot; reason: string }
  | { kind: 'drop'; name: string; reason: string }
  | { kind: 'advance'; slot: WantedSlot; toLsn: bigint; reason: string }
  | { kind: 'copy'; slot: WantedSlot; reason: string }
  | { kind: 'skip'; name: string; reason: string };

export interface SlotPlan {
  actions: SlotAction[];
  /** The owned set once the plan has been applied. */
  owned: Set<string>;
}

/**
 * Patroni's slot_name_from_member_name: lowercase, `-` and `.` (common in host names) become `_`, any other
 * character outside [a-z0-9_] becomes `u` + its code point as 4+ digits, truncated to 63 characters
 * (NAMEDATALEN - 1; the result is ASCII, so characters are bytes). `srv-1` → `srv_1`.
 */
export function slotNameFromMemberName(memberName: string): string {
  let name = '';
  for (const char of memberName.toLowerCase()) {
    if (/^[a-z0-9_]$/.test(char)) name += char;
    else if (char === '-' || char === '.') name += '_';
    else name += `u${String(char.codePointAt(0)).padStart(4, '0')}`;
  }
  return name.slice(0, 63);
}

/** True when `name` is usable as a replication slot name as is. */
export function isValidSlotName(name: string): boolean {
  return /^[a-z0-9_]{1,63}$/.test(name);
}

function matchesIgnore(slot: ExistingSlot, rules: readonly IgnoreSlotRule[]): boolean {
  // Patroni: a field left out (or empty) in the rule matches anything.
  return rules.some(
    (r) =>
      (!r.name || r.name === slot.name) &&
      (!r.type || r.type === slot.type) &&
      (!r.database || r.database === slot.database) &&
      (!r.plugin || r.plugin === slot.plugin),
  );
}

function sameShape(existing: ExistingSlot, wanted: WantedSlot): boolean {
  if (existing.type !== wanted.type) return false;
  return wanted.type === 'physical' || (existing.database === wanted.database && existing.plugin === wanted.plugin);
}

const minLsn = (a: bigint, b: bigint | null | undefined): bigint => (b !== null && b !== undefined && b < a ? b : a);

/** The advance a wanted slot that exists needs, or null (see WantedSlot.lsn / expectedActive). */
function advanceOf(slot: ExistingSlot, want: WantedSlot, standby: SlotPlanInput['standby']): SlotAction | null {
  if (want.lsn === undefined || want.expectedActive === true) return null;
  if (want.type === 'physical') {
    // A slot that reserves no WAL cannot be advanced (pg_replication_slot_advance refuses it).
    if (slot.restartLsn === null || slot.restartLsn === undefined || want.lsn <= slot.restartLsn) return null;
    return { kind: 'advance', slot: want, toLsn: want.lsn, reason: `physical slot ${want.name} follows the position published for it` };
  }
  // A logical slot on the primary belongs to its consumer; on a standby it follows the primary's copy.
  if (!standby) return null;
  const target = minLsn(want.lsn, standby.replayLsn);
  const at = slot.confirmedFlushLsn;
  if (at === null || at === undefined || target <= at) return null;
  return { kind: 'advance', slot: want, toLsn: target, reason: `logical slot ${want.name} follows the primary's confirmed position` };
}

/** Decides which slots to create, drop, advance or copy. Pure. */
export function planSlots(input: SlotPlanInput): SlotPlan {
  const { existing, wanted, ignore = [], dropUnknownPhysical = false, standby } = input;
  const owned = new Set(input.owned);
  const actions: SlotAction[] = [];
  const existingByName = new Map(existing.map((s) => [s.name, s]));
  const wantedByName = new Map(wanted.map((s) => [s.name, s]));

  for (const slot of existing) {
    const want = wantedByName.get(slot.name);
    const lost = slot.walStatus === 'lost';
    if (want && sameShape(slot, want) && !lost) {
      owned.add(slot.name);
      const advance = advanceOf(slot, want, standby);
      if (advance) actions.push(advance);
      continue;
    }
    // ignore_slots protects slots from being dropped as unknown; a slot the config names is the config's.
    if (!want && matchesIgnore(slot, ignore)) continue;
    // A slot is ours to drop if we made it, or if the config names it with another shape or it lost its WAL
    // (either way it is recreated below). On a standby an unknown logical slot is dropped as Patroni does:
    // nothing can decode from it there (PostgreSQL 15), nobody advances it, and with hot_standby_feedback its
    // catalog_xmin holds back vacuum of the catalogs on the primary (a former primary's consumer slot, say).
    const mayDrop =
      owned.has(slot.name) || want !== undefined || (dropUnknownPhysical && slot.type === 'physical') || (standby !== undefined && slot.type === 'logical');
    if (!mayDrop) continue;
    const reason = !want
      ? `slot ${slot.name} is no longer needed (no member or permanent slot uses it)`
      : lost
        ? `slot ${slot.name} has wal_status = lost (the WAL it needs was removed); it is recreated`
        : `slot ${slot.name} is ${describe(slot)} but the config wants ${describe(want)}`;
    if (slot.active) {
      actions.push({ kind: 'skip', name: slot.name, reason: `${reason}, but it is in use; will retry` });
      continue;
    }
    actions.push({ kind: 'drop', name: slot.name, reason });
    owned.delete(slot.name);
    existingByName.delete(slot.name);
  }

  for (const want of wanted) {
    if (existingByName.has(want.name)) continue;
    const what = want.source === 'permanent' ? 'permanent slot' : 'member slot';
    if (want.type === 'logical' && standby) {
      // Only a slot the primary has published a position for is copied (Patroni: "feedback in the DCS").
      if (want.lsn === undefined) continue;
      actions.push({ kind: 'copy', slot: want, reason: `${what} ${want.name} is missing on this standby` });
    } else {
      actions.push({ kind: 'create', slot: want, reason: `${what} ${want.name} is missing` });
    }
    owned.add(want.name);
  }
  return { actions, owned };
}

function describe(slot: { type: SlotType; database?: string | null; plugin?: string | null }): string {
  return slot.type === 'physical' ? 'physical' : `logical (${slot.database ?? '?'}, ${slot.plugin ?? '?'})`;
}

/**
 * Where each existing wanted slot stands, as the leader publishes it in the status key (`slots`): logical
 * slots at confirmed_flush_lsn, physical ones at restart_lsn (Patroni's process_permanent_slots).
 */
export function slotPositions(existing: readonly ExistingSlot[], wanted: readonly WantedSlot[]): Record<string, bigint> {
  const wantedByName = new Map(wanted.map((s) => [s.name, s]));
  const out: Record<string, bigint> = {};
  for (const slot of existing) {
    const want = wantedByName.get(slot.name);
    if (!want || !sameShape(slot, want)) continue;
    const lsn = slot.type === 'logical' ? slot.confirmedFlushLsn : slot.restartLsn;
    if (lsn !== null && lsn !== undefined && lsn > 0n) out[slot.name] = lsn;
  }
  return out;
}

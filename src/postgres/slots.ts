// Replication slots on the primary: one physical slot per other member when use_slots, the permanent slots
// of the config, and the slots of members that left dropped again. `planSlots` decides, `applySlotPlan`
// executes with SQL. Ownership matters: we only ever drop slots we created (or that the config names), so a
// slot made by hand or by a logical-decoding consumer survives.
import type pg from 'pg';
import { connect, withConnection } from './connection.js';
import type { PgContext } from './types.js';

export type SlotType = 'physical' | 'logical';

/** A row of pg_replication_slots that the plan needs. */
export interface ExistingSlot {
  name: string;
  type: SlotType;
  active: boolean;
  database?: string | null;
  plugin?: string | null;
}

export interface WantedSlot {
  name: string;
  type: SlotType;
  /** Logical slots: the database and output plugin. */
  database?: string;
  plugin?: string;
  /** Why we want it: a member replicating from us, or `slots:` in the config. */
  source: 'member' | 'permanent';
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
}

export type SlotAction =
  | { kind: 'create'; slot: WantedSlot; reason: string }
  | { kind: 'drop'; name: string; reason: string }
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

/** The slots a primary named `self` wants: one physical slot per other member, plus the permanent ones. */
export function wantedSlots(
  self: string,
  members: readonly string[],
  permanent: Readonly<Record<string, { type?: SlotType; database?: string; plugin?: string }>>,
  useSlots: boolean,
): WantedSlot[] {
  const selfSlot = slotNameFromMemberName(self);
  const byName = new Map<string, WantedSlot>();
  for (const [name, spec] of Object.entries(permanent)) {
    if (!isValidSlotName(name)) throw new Error(`permanent slot name ${JSON.stringify(name)} is not a valid slot name`);
    const type = spec.type ?? (spec.plugin || spec.database ? 'logical' : 'physical');
    if (type === 'logical' && (!spec.plugin || !spec.database)) {
      throw new Error(`permanent logical slot ${name} needs both database and plugin`);
    }
    if (name === selfSlot && type === 'physical') continue; // a primary cannot stream from itself
    byName.set(name, { name, type, database: spec.database, plugin: spec.plugin, source: 'permanent' });
  }
  if (useSlots) {
    for (const member of members) {
      const name = slotNameFromMemberName(member);
      if (name === selfSlot || byName.has(name)) continue;
      byName.set(name, { name, type: 'physical', source: 'member' });
    }
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function matchesIgnore(slot: ExistingSlot, rules: readonly IgnoreSlotRule[]): boolean {
  return rules.some(
    (r) =>
      (r.name === undefined || r.name === slot.name) &&
      (r.type === undefined || r.type === slot.type) &&
      (r.database === undefined || r.database === slot.database) &&
      (r.plugin === undefined || r.plugin === slot.plugin),
  );
}

function sameShape(existing: ExistingSlot, wanted: WantedSlot): boolean {
  if (existing.type !== wanted.type) return false;
  return wanted.type === 'physical' || (existing.database === wanted.database && existing.plugin === wanted.plugin);
}

/** Decides which slots to create and drop. Pure. */
export function planSlots(input: SlotPlanInput): SlotPlan {
  const { existing, wanted, ignore = [], dropUnknownPhysical = false } = input;
  const owned = new Set(input.owned);
  const actions: SlotAction[] = [];
  const existingByName = new Map(existing.map((s) => [s.name, s]));
  const wantedByName = new Map(wanted.map((s) => [s.name, s]));

  for (const slot of existing) {
    const want = wantedByName.get(slot.name);
    if (want && sameShape(slot, want)) {
      if (want.source === 'member' || want.source === 'permanent') owned.add(slot.name);
      continue;
    }
    if (matchesIgnore(slot, ignore)) continue;
    // A slot is ours to drop if we made it, or if the config names it with another shape (it is then recreated).
    const mayDrop =
      owned.has(slot.name) || want !== undefined || (dropUnknownPhysical && slot.type === 'physical');
    if (!mayDrop) continue;
    const reason = want
      ? `slot ${slot.name} is ${describe(slot)} but the config wants ${describe(want)}`
      : `slot ${slot.name} is no longer needed (no member or permanent slot uses it)`;
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
    actions.push({
      kind: 'create',
      slot: want,
      reason: want.source === 'member' ? `member slot ${want.name} is missing` : `permanent slot ${want.name} is missing`,
    });
    owned.add(want.name);
  }
  return { actions, owned };
}

function describe(slot: { type: SlotType; database?: string | null; plugin?: string | null }): string {
  return slot.type === 'physical' ? 'physical' : `logical (${slot.database ?? '?'}, ${slot.plugin ?? '?'})`;
}

/** Reads pg_replication_slots. */
export async function listSlots(client: pg.ClientBase): Promise<ExistingSlot[]> {
  const result = await client.query<{ slot_name: string; slot_type: SlotType; active: boolean; database: string | null; plugin: string | null }>(
    'SELECT slot_name, slot_type, active, database, plugin FROM pg_catalog.pg_replication_slots ORDER BY slot_name',
  );
  return result.rows.map((r) => ({ name: r.slot_name, type: r.slot_type, active: r.active, database: r.database, plugin: r.plugin }));
}

export interface SlotActionResult {
  action: SlotAction;
  error?: string;
}

export interface AppliedSlotPlan {
  results: SlotActionResult[];
  /** The owned set to keep for the next plan: a failed drop stays owned so it is retried. */
  owned: Set<string>;
}

/**
 * Executes a plan. Physical slots reserve WAL immediately (immediately_reserve => true) so a replica cloned
 * right after does not miss segments. Logical slots must be created while connected to their database:
 * `connectTo(database)` opens such a connection (closed by the caller's implementation via the returned
 * `release`). Errors are collected per action, not thrown: one bad slot must not stop the others.
 */
export async function applySlotPlan(
  client: pg.ClientBase,
  plan: SlotPlan,
  connectTo?: (database: string) => Promise<{ client: pg.ClientBase; release: () => Promise<void> }>,
): Promise<AppliedSlotPlan> {
  const results: SlotActionResult[] = [];
  const owned = new Set(plan.owned);
  for (const action of plan.actions) {
    try {
      if (action.kind === 'drop') {
        // The NOT active guard avoids racing a walsender that attached since the plan was made.
        await client.query(
          'SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1 AND NOT active',
          [action.name],
        );
      } else if (action.kind === 'create') {
        const slot = action.slot;
        if (slot.type === 'physical') {
          await client.query('SELECT pg_catalog.pg_create_physical_replication_slot($1, true)', [slot.name]);
        } else {
          if (!connectTo) throw new Error(`cannot create logical slot ${slot.name}: no way to connect to ${slot.database}`);
          const db = await connectTo(slot.database!);
          try {
            await db.client.query('SELECT pg_catalog.pg_create_logical_replication_slot($1, $2)', [slot.name, slot.plugin]);
          } finally {
            await db.release();
          }
        }
      }
      results.push({ action });
    } catch (error) {
      results.push({ action, error: error instanceof Error ? error.message : String(error) });
      if (action.kind === 'drop') owned.add(action.name);
      if (action.kind === 'create') owned.delete(action.slot.name);
    }
  }
  return { results, owned };
}

export interface SyncSlotsInput {
  wanted: readonly WantedSlot[];
  owned: ReadonlySet<string>;
  ignore?: readonly IgnoreSlotRule[];
  dropUnknownPhysical?: boolean;
}

/**
 * Brings the local primary's slots in line with `wanted`: reads pg_replication_slots, plans, applies.
 * Returns the plan's results and the owned set to pass next time.
 */
export async function syncSlots(ctx: PgContext, input: SyncSlotsInput): Promise<AppliedSlotPlan & { plan: SlotPlan }> {
  return withConnection(ctx, async (client) => {
    const plan = planSlots({ ...input, existing: await listSlots(client) });
    const applied = await applySlotPlan(client, plan, async (database) => {
      const db = await connect(ctx, { database });
      return { client: db, release: () => db.end() };
    });
    return { ...applied, plan };
  });
}

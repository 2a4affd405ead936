// Reading pg_replication_slots and carrying out a slot plan (slots.ts) over SQL, on a primary or a standby.
import type pg from 'pg';
import { connect, withConnection, type ConnectOptions } from './connection.js';
import { formatLsn, parseLsnOrNull } from './lsn.js';
import { planSlots, slotPositions, type ExistingSlot, type IgnoreSlotRule, type SlotAction, type SlotPlan, type SlotType, type WantedSlot } from './slots.js';
import type { PgContext } from './types.js';

/**
 * Reads pg_replication_slots (temporary slots are a session's own business and left out, as Patroni does).
 * wal_status exists from PostgreSQL 13 on.
 */
export async function listSlots(client: pg.ClientBase, majorVersion = 13): Promise<ExistingSlot[]> {
  const result = await client.query<{
    slot_name: string;
    slot_type: SlotType;
    active: boolean;
    database: string | null;
    plugin: string | null;
    restart_lsn: string | null;
    confirmed_flush_lsn: string | null;
    wal_status: string | null;
  }>(
    `SELECT slot_name, slot_type, active, database, plugin, restart_lsn::text, confirmed_flush_lsn::text, ${majorVersion >= 13 ? 'wal_status' : 'NULL::text AS wal_status'}` +
      ' FROM pg_catalog.pg_replication_slots WHERE NOT temporary ORDER BY slot_name',
  );
  return result.rows.map((r) => ({
    name: r.slot_name,
    type: r.slot_type,
    active: r.active,
    database: r.database,
    plugin: r.plugin,
    restartLsn: parseLsnOrNull(r.restart_lsn),
    confirmedFlushLsn: parseLsnOrNull(r.confirmed_flush_lsn),
    walStatus: r.wal_status,
  }));
}

export interface SlotActionResult {
  action: SlotAction;
  error?: string;
}

export interface AppliedSlotPlan {
  results: SlotActionResult[];
  /** The owned set to keep for the next plan: a failed drop stays owned so it is retried. */
  owned: Set<string>;
  /** Positions of the wanted slots as read before the plan was applied (slotPositions), for the status key. */
  positions: Record<string, bigint>;
  /** Logical slots to copy from the primary (a standby cannot create them): the caller stops the server for that. */
  copy: WantedSlot[];
}

type ConnectTo = (database: string) => Promise<{ client: pg.ClientBase; release: () => Promise<void> }>;

/**
 * Executes a plan, except `copy` actions (returned: copying needs the server stopped). Physical slots reserve
 * WAL immediately (immediately_reserve => true) so a replica cloned right after does not miss segments.
 * Logical slots are created and advanced while connected to their database (`connectTo`). Errors are
 * collected per action, not thrown: one bad slot must not stop the others.
 */
export async function applySlotPlan(client: pg.ClientBase, plan: SlotPlan, connectTo?: ConnectTo): Promise<Omit<AppliedSlotPlan, 'positions'>> {
  const results: SlotActionResult[] = [];
  const owned = new Set(plan.owned);
  const copy: WantedSlot[] = [];
  const inDatabase = async <T>(slot: WantedSlot, fn: (c: pg.ClientBase) => Promise<T>): Promise<T> => {
    if (!connectTo) throw new Error(`no way to connect to database ${slot.database} of logical slot ${slot.name}`);
    const db = await connectTo(slot.database!);
    try {
      return await fn(db.client);
    } finally {
      await db.release();
    }
  };
  for (const action of plan.actions) {
    if (action.kind === 'copy') {
      copy.push(action.slot);
      continue;
    }
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
          await inDatabase(slot, (c) => c.query('SELECT pg_catalog.pg_create_logical_replication_slot($1, $2)', [slot.name, slot.plugin]));
        }
      } else if (action.kind === 'advance') {
        // On a standby PostgreSQL caps the move at what it has replayed; a logical slot moves by decoding
        // (fast-forward, no output) in its own database.
        const advance = (c: pg.ClientBase) => c.query('SELECT pg_catalog.pg_replication_slot_advance($1, $2::pg_lsn)', [action.slot.name, formatLsn(action.toLsn)]);
        if (action.slot.type === 'physical') await advance(client);
        else await inDatabase(action.slot, advance);
      }
      results.push({ action });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // A logical slot is advanced only on a standby. One whose WAL this standby no longer has (its copy
      // points before the standby's own clone) can never move again, and a promotion would hand the
      // consumer "requested WAL segment ... has already been removed": dropped, the next cycle copies it
      // afresh from the primary (Patroni copies a slot it fails to advance again).
      if (action.kind === 'advance' && action.slot.type === 'logical' && /has already been removed/.test(message)) {
        await client.query('SELECT pg_catalog.pg_drop_replication_slot($1)', [action.slot.name]).then(
          () => results.push({ action, error: `${message}; dropped it to copy it again from the primary` }),
          (dropError: unknown) => results.push({ action, error: `${message}; could not drop it: ${dropError instanceof Error ? dropError.message : String(dropError)}` }),
        );
        continue;
      }
      results.push({ action, error: message });
      if (action.kind === 'drop') owned.add(action.name);
      if (action.kind === 'create') owned.delete(action.slot.name);
    }
  }
  return { results, owned, copy };
}

export interface SyncSlotsInput {
  wanted: readonly WantedSlot[];
  owned: ReadonlySet<string>;
  ignore?: readonly IgnoreSlotRule[];
  dropUnknownPhysical?: boolean;
  /** The server is a standby (see SlotPlanInput.standby). */
  standby?: { replayLsn: bigint | null };
}

/**
 * Brings the local server's slots in line with `wanted`: reads pg_replication_slots, plans, applies.
 * Returns the plan's results, the owned set to pass next time and the slots' positions. `via` runs the
 * work on a connection (the agent's kept one); a fresh connection when absent.
 */
export async function syncSlots(ctx: PgContext, input: SyncSlotsInput, via: Via = fresh(ctx)): Promise<AppliedSlotPlan & { plan: SlotPlan }> {
  return via(async (client) => {
    const existing = await listSlots(client, ctx.binaries.majorVersion);
    const plan = planSlots({ ...input, existing });
    const applied = await applySlotPlan(client, plan, async (database) => {
      const db = await connect(ctx, { database });
      return { client: db, release: () => db.end() };
    });
    return { ...applied, positions: slotPositions(existing, input.wanted), plan };
  });
}

/**
 * Where the wanted slots stand now (slots.ts slotPositions), reading pg_replication_slots and changing
 * nothing: a primary without the store sends these in POST /failsafe, where it must not touch its slots.
 */
export async function readSlotPositions(ctx: PgContext, wanted: readonly WantedSlot[], via: Via = fresh(ctx)): Promise<Record<string, bigint>> {
  return via(async (client) => slotPositions(await listSlots(client, ctx.binaries.majorVersion), wanted));
}

/** Runs work on some connection to the local server. */
export type Via = <T>(fn: (client: pg.Client) => Promise<T>) => Promise<T>;

const fresh =
  (ctx: PgContext, options: ConnectOptions = {}): Via =>
  (fn) =>
    withConnection(ctx, fn, options);

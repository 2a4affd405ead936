// Logical slots on a standby (PostgreSQL 15 cannot create one there): copy the slot's on-disk state from the
// primary into pg_replslot/<name>/state while the standby is stopped, with the WAL from the slot's restart_lsn
// that the standby lacks (Patroni copies the state only: see fetchMissingWal); it starts with the slot, which the
// agent then advances with pg_replication_slot_advance as the primary's consumer confirms changes. This is
// what Patroni does (copy_logical_slots), so a logical consumer resumes on a promoted standby. The state read
// from the primary is the one of its last checkpoint (or slot save): never ahead of what the consumer
// confirmed, so the copy can only replay changes again, never skip one.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { connect } from './connection.js';
import { start, stop } from './lifecycle.js';
import { formatLsn, parseLsnOrNull } from './lsn.js';
import type { WantedSlot } from './slots.js';
import type { PgContext } from './types.js';
import { ensureDirForUser, writeFileForUser } from './user-files.js';

/** A primary's logical slot as read for copying: its shape, the bytes of its state file, and the WAL position it needs. */
export interface LogicalSlotState {
  name: string;
  database: string;
  plugin: string;
  state: Buffer;
  /** restart_lsn as written in the state file (decoding starts reading WAL there). */
  restartLsn: bigint;
}

export interface SlotCopySource {
  host: string;
  port: number;
}

/** Where PostgreSQL 15's ReplicationSlotOnDisk keeps the slot name (NameData) and restart_lsn (little-endian). */
const STATE_NAME_AT = 16;
const STATE_RESTART_LSN_AT = 96;

/** restart_lsn from a slot's state file, or null when the file does not have the layout expected for `name`. */
export function restartLsnOfState(state: Buffer, name: string): bigint | null {
  if (state.length < STATE_RESTART_LSN_AT + 8) return null;
  const stored = state.subarray(STATE_NAME_AT, STATE_NAME_AT + 64);
  const end = stored.indexOf(0);
  if (stored.subarray(0, end < 0 ? 64 : end).toString('utf8') !== name) return null;
  return state.readBigUInt64LE(STATE_RESTART_LSN_AT);
}

/**
 * Reads the state files of the wanted logical slots from the primary (`client`, connected as the rewind
 * user: bootstrap grants it pg_read_binary_file and pg_ls_dir). Slots missing on the primary, or of another
 * database or plugin than wanted, are left out with a line in `problems`.
 */
export async function readLogicalSlotStates(client: pg.ClientBase, source: SlotCopySource, wanted: readonly WantedSlot[]): Promise<{ states: LogicalSlotState[]; problems: string[] }> {
  const rows = (
    await client.query<{ slot_name: string; slot_type: string; datname: string; plugin: string; restart_lsn: string | null; state: Buffer }>(
      `SELECT s.slot_name, s.slot_type, d.datname, s.plugin, s.restart_lsn::text AS restart_lsn,
              pg_catalog.pg_read_binary_file('pg_replslot/' || s.slot_name || '/state') AS state
         FROM pg_catalog.pg_get_replication_slots() s JOIN pg_catalog.pg_database d ON s.datoid = d.oid
        WHERE NOT pg_catalog.pg_is_in_recovery() AND s.slot_name = ANY($1)`,
      [wanted.map((w) => w.name)],
    )
  ).rows;
  const byName = new Map(rows.map((r) => [r.slot_name, r]));
  const states: LogicalSlotState[] = [];
  const problems: string[] = [];
  for (const want of wanted) {
    const row = byName.get(want.name);
    if (!row) {
      problems.push(`logical slot ${want.name} is not on the primary ${source.host}:${source.port} (or it is in recovery)`);
      continue;
    }
    if (row.slot_type !== 'logical' || row.datname !== want.database || row.plugin !== want.plugin) {
      problems.push(`not copying logical slot ${want.name}: on the primary it is ${row.slot_type} (${row.datname}, ${row.plugin}), the config wants (${want.database}, ${want.plugin})`);
      continue;
    }
    const restartLsn = restartLsnOfState(row.state, want.name) ?? parseLsnOrNull(row.restart_lsn);
    if (restartLsn === null) problems.push(`not copying logical slot ${want.name}: it reserves no WAL on the primary`);
    else states.push({ name: want.name, database: row.datname, plugin: row.plugin, state: row.state, restartLsn });
  }
  return { states, problems };
}

/** Writes the slots' state files into a stopped server's pg_replslot (each fsynced before its rename). */
export async function installLogicalSlotStates(ctx: PgContext, states: readonly LogicalSlotState[]): Promise<void> {
  for (const slot of states) {
    const dir = path.join(ctx.options.data_dir, 'pg_replslot', slot.name);
    await ensureDirForUser(dir, ctx.user, 0o700);
    await writeFileForUser(path.join(dir, 'state'), slot.state, ctx.user, 0o600, { fsync: true });
  }
}

/** A copy never fetches more WAL than this from the primary for its slots (beyond it, the slot waits). */
export const MAX_FETCHED_WAL_SEGMENTS = 64;

const WAL_FILE = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;

/** The segment number of a WAL file name, or null for anything else in pg_wal. */
function segnoOf(file: string, segSize: bigint): bigint | null {
  const m = WAL_FILE.exec(file);
  if (!m) return null;
  return BigInt(`0x${m[2]}`) * (0x100000000n / segSize) + BigInt(`0x${m[3]}`);
}

/** The oldest WAL segment number in a (stopped) server's pg_wal, or null when it holds none. */
async function oldestLocalSegno(ctx: PgContext, segSize: bigint): Promise<bigint | null> {
  let oldest: bigint | null = null;
  for (const file of await readdir(path.join(ctx.options.data_dir, 'pg_wal'))) {
    const segno = segnoOf(file, segSize);
    if (segno !== null && (oldest === null || segno < oldest)) oldest = segno;
  }
  return oldest;
}

/**
 * Decoding from a copied slot starts at its restart_lsn, so the standby needs the WAL from there on. A
 * standby cloned after the slot was made (or one whose restartpoints removed WAL before the slot was
 * installed, the shutdown for the copy included) starts its pg_wal later: a promoted standby then hands the
 * consumer "requested WAL segment ... has already been removed". The missing segments, which the primary
 * keeps for its slot, are fetched from it into the stopped standby's pg_wal (the loaded slot keeps them
 * from then on). Returns the states whose WAL is now complete; the others get a line in `problems`.
 */
async function walSegmentSize(client: pg.ClientBase): Promise<bigint> {
  const size = BigInt((await client.query<{ setting: string }>("SELECT setting FROM pg_catalog.pg_settings WHERE name = 'wal_segment_size'")).rows[0]?.setting ?? '0');
  if (size <= 0n) throw new Error('the primary did not report wal_segment_size');
  return size;
}

/** Splits states into those whose WAL this standby has from restart_lsn on, and those that need some fetched. */
async function byWalOnStandby(ctx: PgContext, client: pg.ClientBase) {
  const segSize = await walSegmentSize(client);
  const oldest = await oldestLocalSegno(ctx, segSize);
  const need = (s: LogicalSlotState) => s.restartLsn / segSize;
  const missing = (s: LogicalSlotState) => (oldest === null || need(s) >= oldest ? 0n : oldest - need(s));
  return { segSize, oldest: oldest ?? 0n, need, missing };
}

/** The states whose missing WAL is within MAX_FETCHED_WAL_SEGMENTS; the others get a line in `problems`. */
async function withinFetchReach(ctx: PgContext, client: pg.ClientBase, states: readonly LogicalSlotState[], problems: string[]): Promise<LogicalSlotState[]> {
  const { missing } = await byWalOnStandby(ctx, client);
  return states.filter((s) => {
    if (missing(s) <= BigInt(MAX_FETCHED_WAL_SEGMENTS)) return true;
    problems.push(`not copying logical slot ${s.name} yet: it needs WAL from ${formatLsn(s.restartLsn)}, ${missing(s)} segments older than this standby's oldest (more than ${MAX_FETCHED_WAL_SEGMENTS} to fetch); copied once its consumer has moved it on`);
    return false;
  });
}

async function fetchMissingWal(ctx: PgContext, client: pg.ClientBase, states: readonly LogicalSlotState[], problems: string[]): Promise<LogicalSlotState[]> {
  const { segSize, oldest, need, missing } = await byWalOnStandby(ctx, client);
  const ready = states.filter((s) => missing(s) === 0n);
  const wanted = states.filter((s) => missing(s) > 0n);
  if (wanted.length === 0) return ready;
  const first = wanted.reduce((min, s) => (need(s) < min ? need(s) : min), oldest);
  const onPrimary = (await client.query<{ f: string }>("SELECT f FROM pg_catalog.pg_ls_dir('pg_wal', true, false) AS f")).rows.map((r) => r.f);
  const fetched = new Set<bigint>();
  for (let segno = first; segno < oldest; segno++) {
    // Every timeline's copy of the segment the primary has: decoding picks the one its history names.
    const files = onPrimary.filter((f) => segnoOf(f, segSize) === segno);
    for (const file of files) {
      const { rows } = await client.query<{ data: Buffer }>('SELECT pg_catalog.pg_read_binary_file($1) AS data', [`pg_wal/${file}`]);
      await writeFileForUser(path.join(ctx.options.data_dir, 'pg_wal', file), rows[0]!.data, ctx.user, 0o600, { fsync: true });
    }
    if (files.length > 0) fetched.add(segno);
  }
  for (const s of wanted) {
    let complete = true;
    for (let segno = need(s); segno < oldest; segno++) if (!fetched.has(segno)) complete = false;
    if (complete) ready.push(s);
    else problems.push(`not copying logical slot ${s.name} yet: the WAL it needs from ${formatLsn(s.restartLsn)} is no longer on the primary either`);
  }
  return ready;
}

/**
 * The whole copy on a standby: read from the primary, then (only if there is anything to copy) a fast stop,
 * the WAL the slots need that this standby lacks, the state files, and a start. Returns the names copied
 * and the problems found.
 */
export async function copyLogicalSlots(ctx: PgContext, source: SlotCopySource, wanted: readonly WantedSlot[]): Promise<{ copied: string[]; problems: string[] }> {
  const auth = ctx.options.authentication;
  const client = await connect(ctx, { host: source.host, port: source.port, user: auth.rewind ?? auth.superuser, connectTimeoutMs: 5000 });
  try {
    const read = await readLogicalSlotStates(client, source, wanted);
    const problems = read.problems;
    // Judged once before the stop, so a slot that cannot be completed does not restart the standby each cycle.
    const states = await withinFetchReach(ctx, client, read.states, problems);
    if (states.length === 0) return { copied: [], problems };
    await stop(ctx, { mode: 'fast' });
    let ready: LogicalSlotState[] = [];
    try {
      ready = await fetchMissingWal(ctx, client, states, problems);
      await installLogicalSlotStates(ctx, ready);
    } finally {
      // Started again whatever happened: the standby must not stay down over a slot.
      await start(ctx);
    }
    return { copied: ready.map((s) => s.name), problems };
  } finally {
    await client.end().catch(() => {}); // what was read is read; a close error changes nothing
  }
}

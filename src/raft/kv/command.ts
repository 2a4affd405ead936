/**
 * Encoding of KV writes into the data of 'normal' Raft entries.
 *
 * JSON, versioned (`v`), validated field by field on decode: a committed entry is applied by every
 * node long after the proposer checked it, so the decoder must not trust it.
 *
 * `expire` is internal: it is decoded only without a client session, and a client command never
 * decodes as one, so an entry a client managed to get into the log cannot end a lease early (it is
 * skipped like any undecodable entry).
 *
 * An undecodable committed entry (a bug in an older/newer proposer, a corrupted record that passed
 * the journal checksum) must NOT stop the apply loop and must NOT be guessed at. Every node holds
 * the same bytes at that index (log matching), so every node decodes it to the same error: the node
 * logs it (with the index), skips it without touching the store, and moves on — the state machines
 * stay identical. `KvStore.applyEncoded` implements exactly that; a proposer waiting on that index
 * gets the decode error as its answer.
 */
import type { ClientCommand, ExpireCommand, KvCommand } from './types.js';

/**
 * What a Raft entry carries: a client write (always with a session), or the one command the Raft
 * leader proposes itself (expire, never with a session). A bare KvCommand is accepted by the store
 * (tests drive it that way) but never decoded from the log.
 */
export type KvInput = ClientCommand | ExpireCommand | KvCommand;

export const COMMAND_FORMAT_VERSION = 1;

export class KvCommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KvCommandError';
  }
}

export function isClientCommand(input: KvInput): input is ClientCommand {
  return 'command' in input;
}

export function encodeCommand(input: ClientCommand | ExpireCommand): Uint8Array {
  // Validate on the way out too, so a bad proposal fails at the proposer rather than in the log.
  if (isClientCommand(input)) checkClient(input.clientId, input.seq);
  const wire = isClientCommand(input)
    ? { v: COMMAND_FORMAT_VERSION, c: input.clientId, s: input.seq, cmd: checkClientCommand(input.command) }
    : { v: COMMAND_FORMAT_VERSION, cmd: checkExpire(input) };
  return new TextEncoder().encode(JSON.stringify(wire));
}

/** The boundary check for a command a client sent: a known op with valid fields, never `expire`. */
export function checkClientCommand(raw: unknown): KvCommand {
  const cmd = checkCommand(raw);
  if (cmd.op === 'expire') throw new KvCommandError('kv command: expire is proposed by the Raft leader only, when a lease ran out on its clock; a client cannot send it');
  return cmd;
}

function checkExpire(raw: unknown): ExpireCommand {
  const cmd = checkCommand(raw);
  if (cmd.op !== 'expire') throw new KvCommandError(`kv command: ${cmd.op} without a client session (only the leader's expire has none)`);
  return cmd;
}

export function decodeCommand(data: Uint8Array): KvInput {
  let raw: unknown;
  try {
    // fatal: invalid UTF-8 is an error, not silently replaced characters in a key.
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (err) {
    throw new KvCommandError(`kv command is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (!isRecord(raw)) throw new KvCommandError('kv command is not a JSON object');
  if (raw.v !== COMMAND_FORMAT_VERSION) {
    throw new KvCommandError(`kv command format version ${JSON.stringify(raw.v)} is not supported (expected 1)`);
  }
  if (raw.c === undefined && raw.s === undefined) return checkExpire(raw.cmd);
  checkClient(raw.c, raw.s);
  return { clientId: raw.c as string, seq: raw.s as number, command: checkClientCommand(raw.cmd) };
}

function checkClient(clientId: unknown, seq: unknown): void {
  if (typeof clientId !== 'string' || clientId === '') throw new KvCommandError('kv command: clientId must be a non-empty string');
  if (!isPositiveInt(seq)) throw new KvCommandError(`kv command: seq must be a positive integer, got ${JSON.stringify(seq)}`);
}

const ALLOWED_FIELDS: Record<KvCommand['op'] | 'expire', readonly string[]> = {
  set: ['op', 'key', 'value', 'ttlMs', 'ifVersion', 'ifValue'],
  delete: ['op', 'key', 'ifVersion', 'ifValue'],
  deletePrefix: ['op', 'prefix'],
  expire: ['op', 'key', 'version'],
};

/** Returns a fresh object holding only the known fields, so nothing unvalidated reaches the store. */
function checkCommand(raw: unknown): KvCommand | ExpireCommand {
  if (!isRecord(raw)) throw new KvCommandError('kv command: cmd is not an object');
  const op = raw.op;
  if (typeof op !== 'string' || !Object.hasOwn(ALLOWED_FIELDS, op)) {
    throw new KvCommandError(`kv command: unknown op ${JSON.stringify(op)}`);
  }
  const allowed = ALLOWED_FIELDS[op as KvCommand['op'] | 'expire'];
  for (const field of Object.keys(raw)) {
    if (!allowed.includes(field)) throw new KvCommandError(`kv command: unexpected field "${field}" for ${op}`);
  }
  switch (op as KvCommand['op'] | 'expire') {
    case 'set': {
      const cmd: KvCommand = { op: 'set', key: checkKey(raw.key), value: checkString(raw.value, 'value') };
      if (raw.ttlMs !== undefined && raw.ttlMs !== null) {
        if (typeof raw.ttlMs !== 'number' || !Number.isFinite(raw.ttlMs) || raw.ttlMs <= 0) {
          throw new KvCommandError(`kv command: ttlMs must be a positive number or null, got ${JSON.stringify(raw.ttlMs)}`);
        }
        cmd.ttlMs = raw.ttlMs;
      }
      addConditions(cmd, raw);
      return cmd;
    }
    case 'delete': {
      const cmd: KvCommand = { op: 'delete', key: checkKey(raw.key) };
      addConditions(cmd, raw);
      return cmd;
    }
    case 'deletePrefix':
      return { op: 'deletePrefix', prefix: checkString(raw.prefix, 'prefix') };
    case 'expire':
      if (!isPositiveInt(raw.version)) throw new KvCommandError('kv command: expire needs a positive integer version');
      return { op: 'expire', key: checkKey(raw.key), version: raw.version };
  }
}

function addConditions(cmd: { ifVersion?: number; ifValue?: string }, raw: Record<string, unknown>): void {
  if (raw.ifVersion !== undefined) {
    if (!Number.isSafeInteger(raw.ifVersion) || (raw.ifVersion as number) < 0) {
      throw new KvCommandError(`kv command: ifVersion must be an integer ≥ 0, got ${JSON.stringify(raw.ifVersion)}`);
    }
    cmd.ifVersion = raw.ifVersion as number;
  }
  if (raw.ifValue !== undefined) cmd.ifValue = checkString(raw.ifValue, 'ifValue');
}

function checkKey(key: unknown): string {
  if (typeof key !== 'string' || key === '') throw new KvCommandError('kv command: key must be a non-empty string');
  return key;
}

function checkString(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new KvCommandError(`kv command: ${what} must be a string`);
  return v;
}

function isPositiveInt(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) > 0;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

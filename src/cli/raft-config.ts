/**
 * Minimal reader of the `raft:` section of ha.yml for `hactl raft node -c` (Patroni's key names).
 * The full configuration layer (src/config, with file:line errors and env overrides) replaces this.
 */
import { readFile } from 'node:fs/promises';

export interface RaftSection {
  self_addr?: string;
  partner_addrs?: string[];
  bind_addr?: string;
  data_dir?: string;
  password?: string;
  allow_unauthenticated?: boolean;
  /** The file's top-level `scope` (salts the password's key, as the agents of that cluster do). */
  scope?: string;
  /** Patroni/pysyncobj timing knobs, in seconds. */
  min_timeout?: number;
  max_timeout?: number;
  append_entries_period?: number;
}

export class RaftConfigFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftConfigFileError';
  }
}

export async function readRaftSection(path: string): Promise<RaftSection> {
  const { parse } = await import('yaml');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new RaftConfigFileError(`cannot read ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new RaftConfigFileError(`${path}: ${(err as Error).message}`);
  }
  const raft = (doc as { raft?: unknown } | null)?.raft;
  const scope = (doc as { scope?: unknown } | null)?.scope;
  if (typeof raft !== 'object' || raft === null || Array.isArray(raft)) throw new RaftConfigFileError(`${path}: no "raft:" section`);
  const r = raft as Record<string, unknown>;
  const out: RaftSection = {};
  if (typeof scope === 'string' && scope !== '') out.scope = scope;
  if (r.allow_unauthenticated !== undefined && r.allow_unauthenticated !== null) {
    if (typeof r.allow_unauthenticated !== 'boolean') throw new RaftConfigFileError(`${path}: raft.allow_unauthenticated must be true or false`);
    out.allow_unauthenticated = r.allow_unauthenticated;
  }
  for (const k of ['self_addr', 'bind_addr', 'data_dir', 'password'] as const) {
    if (r[k] === undefined || r[k] === null) continue;
    if (typeof r[k] !== 'string') throw new RaftConfigFileError(`${path}: raft.${k} must be a string`);
    out[k] = r[k] as string;
  }
  if (r.partner_addrs !== undefined && r.partner_addrs !== null) {
    const list = typeof r.partner_addrs === 'string' ? r.partner_addrs.split(',') : r.partner_addrs;
    if (!Array.isArray(list) || !list.every((a) => typeof a === 'string')) throw new RaftConfigFileError(`${path}: raft.partner_addrs must be a list of host:port`);
    out.partner_addrs = list.map((a: string) => a.trim()).filter(Boolean);
  }
  for (const k of ['min_timeout', 'max_timeout', 'append_entries_period'] as const) {
    if (r[k] === undefined || r[k] === null) continue;
    if (typeof r[k] !== 'number' || !(r[k] as number > 0)) throw new RaftConfigFileError(`${path}: raft.${k} must be a positive number of seconds`);
    out[k] = r[k] as number;
  }
  return out;
}

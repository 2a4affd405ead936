/**
 * The voter file: what a Raft member promised, kept apart from the log — the current term, the
 * vote cast in it, and whether the member is being recovered (it then must not vote; see
 * recovery-state in node/recovery.ts). Losing any of it can make a member vote twice in one term.
 *
 * Two copies, each one checksummed frame in its own 4 KiB page (offsets 0 and 4096), written in
 * turn: copy A, fdatasync, copy B, fdatasync. A crash can therefore tear at most the copy being
 * written, and the other copy holds the new value or the one before it — never anything older
 * than what was acknowledged (acknowledging waits for both). A bit flip in one copy leaves the
 * other. Load takes the valid copy with the highest generation; with neither valid the member
 * refuses to start (StorageCorruptError names the file).
 *
 * Writes are rare (a term change, a vote, the start and end of a recovery), so two fdatasyncs
 * each cost nothing on the write path, which only touches the journal.
 */
import { join } from 'node:path';
import { CodecError, Reader, Writer } from '../codec/binary.js';
import { StorageCorruptError, StorageIoError } from './errors.js';
import { fsyncDir, type StorageFs } from './fs.js';
import { frame, readFrame } from './journal.js';
import { writeFully } from './snapshot-file.js';

export const VOTER_FILE = 'voter';
const VOTER_MAGIC = 0x48545631; // "HTV1"
const COPY_OFFSETS = [0, 4096] as const;
const COPY_BYTES = 512;
const FLAG_RECOVERING = 1;
const FLAG_LEARNER_AT = 2;

/** Set while a member recovered with `hactl raft recover` catches up; it votes again once promoted. */
export interface RecoveryState {
  /**
   * Index of the configuration entry that made this member a learner after the recovery began
   * (the leader's answer to its rejoin request); null until then. Recovery is complete once a
   * later configuration entry in its own log lists it as a voter.
   */
  learnerAt: number | null;
}

export interface VoterState {
  term: number;
  vote: string | null;
  recovery: RecoveryState | null;
}

export const INITIAL_VOTER_STATE: VoterState = { term: 0, vote: null, recovery: null };

/**
 * The vote a recovered member restarts with: it may have voted in its salvaged term before its
 * voter file was lost, so it must not grant a vote in that term again (no member has this id).
 */
export const RECOVERED_VOTE = '(vote lost in recovery)';

interface Copy {
  generation: number;
  state: VoterState;
}

function encodeCopy(generation: number, v: VoterState): Buffer {
  let flags = 0;
  if (v.recovery) flags |= FLAG_RECOVERING | (v.recovery.learnerAt !== null ? FLAG_LEARNER_AT : 0);
  const w = new Writer(128).u32(VOTER_MAGIC).u64(generation).u64(v.term).optStr(v.vote).u8(flags);
  if (v.recovery?.learnerAt != null) w.u64(v.recovery.learnerAt);
  const payload = w.finish();
  const framed = frame(payload);
  if (framed.length > COPY_BYTES) throw new Error(`voter state of ${framed.length} bytes does not fit a ${COPY_BYTES}-byte copy (vote "${v.vote}")`);
  const out = Buffer.alloc(COPY_BYTES);
  framed.copy(out);
  return out;
}

function decodeCopy(buf: Buffer, at: number): Copy | { error: string } {
  if (buf.length < at + 8) return { error: 'missing' };
  const f = readFrame(buf.subarray(at, Math.min(buf.length, at + COPY_BYTES)), 0);
  if (!f.ok) return { error: f.reason };
  try {
    const r = new Reader(f.payload);
    const magic = r.u32('voter magic');
    if (magic !== VOTER_MAGIC) return { error: `bad magic 0x${magic.toString(16)}` };
    const generation = r.u64('generation');
    const term = r.u64('term');
    const vote = r.optStr('vote');
    const flags = r.u8('flags');
    const learnerAt = flags & FLAG_LEARNER_AT ? r.u64('learner index') : null;
    r.end('voter state');
    const recovery = flags & FLAG_RECOVERING ? { learnerAt } : null;
    return { generation, state: { term, vote, recovery } };
  } catch (err) {
    if (err instanceof CodecError) return { error: err.message };
    throw err;
  }
}

export type VoterFileRead =
  | { kind: 'missing' }
  | { kind: 'ok'; state: VoterState; generation: number; notes: string[] }
  | { kind: 'damaged'; reason: string };

/** Reads both copies; never throws for damage (the caller decides), only for I/O errors. */
export async function readVoterFile(fsApi: StorageFs, dir: string): Promise<VoterFileRead> {
  const path = join(dir, VOTER_FILE);
  let buf: Buffer;
  try {
    buf = await fsApi.readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw new StorageIoError('read', path, err);
  }
  const copies = COPY_OFFSETS.map((at) => decodeCopy(buf, at));
  const valid = copies.filter((c): c is Copy => 'generation' in c).sort((a, b) => b.generation - a.generation);
  const best = valid[0];
  if (best === undefined) {
    const why = copies.map((c, i) => `copy ${i + 1} at offset ${COPY_OFFSETS[i]}: ${'error' in c ? c.error : 'ok'}`).join('; ');
    return { kind: 'damaged', reason: why };
  }
  const notes = copies.flatMap((c, i) => ('error' in c ? [`${path}: copy ${i + 1} at offset ${COPY_OFFSETS[i]} is damaged (${c.error}); using the other copy`] : []));
  return { kind: 'ok', state: best.state, generation: best.generation, notes };
}

/** Writer of the voter file; `create` makes a new one durable (file and directory entry). */
export class VoterFile {
  private constructor(
    private readonly fsApi: StorageFs,
    readonly path: string,
    private generation: number,
    private current: VoterState,
  ) {}

  get state(): VoterState {
    return this.current;
  }

  static open(fsApi: StorageFs, dir: string, generation: number, state: VoterState): VoterFile {
    return new VoterFile(fsApi, join(dir, VOTER_FILE), generation, state);
  }

  /** A fresh file holding `state`, durable with its directory entry before this resolves. */
  static async create(fsApi: StorageFs, dir: string, state: VoterState): Promise<VoterFile> {
    const file = new VoterFile(fsApi, join(dir, VOTER_FILE), 0, state);
    await file.write(state, 'w');
    await fsyncDir(fsApi, dir).catch((err: unknown) => {
      throw new StorageIoError('fsync directory', dir, err);
    });
    return file;
  }

  /** Durable when it resolves: both copies hold `state`. On failure the file still holds a valid copy. */
  async write(state: VoterState, flags = 'r+'): Promise<void> {
    // Consumed even if this write fails: a retry must not reuse a generation whose copy may have landed.
    const generation = ++this.generation;
    const bytes = encodeCopy(generation, state);
    const fd = await this.fsApi.open(this.path, flags).catch((err: unknown) => {
      throw new StorageIoError('open', this.path, err);
    });
    try {
      for (const at of COPY_OFFSETS) {
        // One copy at a time, each durable before the next is touched (see the header).
        await writeFully(this.fsApi, fd, bytes, at).catch((err: unknown) => {
          throw new StorageIoError('write', this.path, err);
        });
        await this.fsApi.fdatasync(fd).catch((err: unknown) => {
          throw new StorageIoError('fdatasync', this.path, err);
        });
      }
    } finally {
      // Closing cannot undo a completed fdatasync; an error here changes nothing durable.
      await this.fsApi.close(fd).catch(() => undefined);
    }
    this.current = { term: state.term, vote: state.vote, recovery: state.recovery ? { ...state.recovery } : null };
  }
}

/** The error for a voter file with no valid copy. */
export function damagedVoterFile(dir: string, reason: string): StorageCorruptError {
  return new StorageCorruptError(`${join(dir, VOTER_FILE)}: no valid copy of term and vote (${reason})`, join(dir, VOTER_FILE), 0, dir);
}

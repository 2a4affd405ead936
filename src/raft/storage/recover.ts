/**
 * `hactl raft recover`: bring a member whose data directory is damaged back without letting it
 * vote on a log it no longer has. Offline (the member is stopped):
 * 1. everything in the data directory moves to `damaged-<time>/` inside it (kept for analysis);
 * 2. the highest term anything readable shows (either voter copy, journal records before any
 *    damage, the snapshot, and the terms the running members report) is salvaged;
 * 3. a fresh voter file holds that term, a vote marked as lost (so the member cannot vote again in
 *    that term: it may have voted in it already) and the recovery state.
 * Started again, the member does not vote; it asks to be demoted to learner, catches up from the
 * leader, and votes again once the leader has promoted it (node/rejoin.ts).
 */
import { join } from 'node:path';
import type { Logger } from '../kv/types.js';
import { StorageCorruptError, StorageIoError } from './errors.js';
import { FileStorage } from './file-storage.js';
import { fsyncDir, type StorageFs } from './fs.js';
import { readFrame, scanSegment } from './journal.js';
import { segmentSeqs, segmentFileName } from './recovery.js';
import { decodeSnapshot, SNAPSHOT_FILE } from './snapshot-file.js';
import { readVoterFile, RECOVERED_VOTE, VOTER_FILE, VoterFile } from './voter-file.js';

export type RecoverResult =
  | { kind: 'healthy'; term: number; entries: number }
  | { kind: 'recovered'; movedTo: string; moved: string[]; term: number; evidence: string[] };

export interface RecoverOptions {
  /** Recover even when the directory loads cleanly. */
  force: boolean;
  /** Highest term the running members report (null when none could be asked). */
  clusterTerm: number | null;
  /** For the name of the directory the damaged files move to. */
  now: Date;
  logger: Logger;
}

/** The highest term anything readable in `dir` shows, with where each came from. */
export async function salvageTerm(fsApi: StorageFs, dir: string): Promise<{ term: number; evidence: string[] }> {
  let term = 0;
  const evidence: string[] = [];
  const note = (t: number, where: string) => {
    if (t > term) term = t;
    evidence.push(`${where}: term ${t}`);
  };
  // Evidence gathering for a damaged directory: an unreadable file is simply no evidence.
  const voter = await readVoterFile(fsApi, dir).catch(() => null);
  if (voter?.kind === 'ok') note(voter.state.term, VOTER_FILE);
  const names = await fsApi.readdir(dir);
  for (const seq of segmentSeqs(names)) {
    const path = join(dir, segmentFileName(seq));
    // Evidence gathering for a damaged directory: an unreadable file is simply no evidence.
    const buf = await fsApi.readFile(path).catch(() => null);
    if (!buf) continue;
    let best = 0;
    for (const rec of scanSegment(buf, seq).records) {
      if (rec.kind === 'hardState') best = Math.max(best, rec.hardState.term);
      if (rec.kind === 'entries') for (const e of rec.entries) best = Math.max(best, e.term);
    }
    if (best > 0) note(best, segmentFileName(seq));
  }
  if (names.includes(SNAPSHOT_FILE)) {
    // Evidence gathering for a damaged directory: an unreadable file is simply no evidence.
    const buf = await fsApi.readFile(join(dir, SNAPSHOT_FILE)).catch(() => null);
    if (buf && readFrame(buf, 0).ok) {
      try {
        note(decodeSnapshot(buf, SNAPSHOT_FILE).meta.term, SNAPSHOT_FILE);
      } catch (err) {
        // A snapshot that does not decode shows no term; the other evidence still counts.
        if (!(err instanceof StorageCorruptError)) throw err;
      }
    }
  }
  return { term, evidence };
}

export async function recoverDataDir(fsApi: StorageFs, dir: string, o: RecoverOptions): Promise<RecoverResult> {
  if (!o.force) {
    const storage = new FileStorage(dir, o.logger, { fs: fsApi });
    try {
      const loaded = await storage.load();
      await storage.close();
      return { kind: 'healthy', term: loaded.hardState.term, entries: loaded.entries.length };
    } catch (err) {
      if (!(err instanceof StorageCorruptError)) throw err;
      o.logger.warn(err.message.split('; refusing')[0]!);
    }
  }
  const salvaged = await salvageTerm(fsApi, dir);
  const evidence = [...salvaged.evidence];
  let term = salvaged.term;
  if (o.clusterTerm !== null) {
    evidence.push(`running members: term ${o.clusterTerm}`);
    term = Math.max(term, o.clusterTerm);
  }
  const stamp = o.now.toISOString().replace(/[:.]/g, '-');
  const aside = `damaged-${stamp}`;
  const target = join(dir, aside);
  await fsApi.mkdir(target).catch((err: unknown) => {
    throw new StorageIoError('create directory', target, err);
  });
  const moved: string[] = [];
  for (const name of await fsApi.readdir(dir)) {
    if (name.startsWith('damaged-')) continue;
    await fsApi.rename(join(dir, name), join(target, name)).catch((err: unknown) => {
      throw new StorageIoError(`move to ${target}`, join(dir, name), err);
    });
    moved.push(name);
  }
  await fsyncDir(fsApi, target).catch((err: unknown) => {
    throw new StorageIoError('fsync directory', target, err);
  });
  await fsyncDir(fsApi, dir).catch((err: unknown) => {
    throw new StorageIoError('fsync directory', dir, err);
  });
  await VoterFile.create(fsApi, dir, { term, vote: RECOVERED_VOTE, recovery: { learnerAt: null } });
  return { kind: 'recovered', movedTo: target, moved, term, evidence };
}

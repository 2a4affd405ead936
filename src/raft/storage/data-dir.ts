/**
 * Opening a data directory: the snapshot, the journal and the voter file, checked against each
 * other, giving the state a member restarts from — or a StorageCorruptError when that state
 * might be older than what the member acknowledged.
 *
 * Term and vote come from the voter file. A restart never takes a lower term than any entry,
 * snapshot or HARD_STATE record on disk shows (adopting a higher term without a vote is always
 * safe in Raft; a lower one is how a member votes twice).
 *
 * Format 1 data directories (no voter file; term and vote only in the journal's HARD_STATE
 * records) are migrated when their journal is undamaged: the voter file is created from the last
 * HARD_STATE record and new writes go to a fresh format 2 segment. A damaged format 1 journal
 * refuses to start (recovery.ts): the old format cannot tell a torn write from corruption.
 */
import type { HardState, Snapshot } from '../core/types.js';
import type { Logger } from '../kv/types.js';
import { StorageCorruptError } from './errors.js';
import type { StorageFs } from './fs.js';
import { loadJournal, type RecoveredJournal } from './recovery.js';
import { readSnapshotFile } from './snapshot-file.js';
import { damagedVoterFile, INITIAL_VOTER_STATE, readVoterFile, VOTER_FILE, VoterFile, type RecoveryState } from './voter-file.js';

export interface OpenedDataDir {
  snapshot: Snapshot | null;
  journal: RecoveredJournal;
  voter: VoterFile;
  hardState: HardState;
  recovery: RecoveryState | null;
}

export async function openDataDir(fsApi: StorageFs, dir: string, logger: Logger): Promise<OpenedDataDir> {
  const voterRead = await readVoterFile(fsApi, dir);
  if (voterRead.kind === 'damaged') throw damagedVoterFile(dir, voterRead.reason);
  const snapshot = await readSnapshotFile(fsApi, dir);
  const journal = await loadJournal(fsApi, dir, snapshot, logger);
  const hasData = snapshot !== null || journal.segments.length > 0;

  let voter: VoterFile;
  if (voterRead.kind === 'ok') {
    for (const note of voterRead.notes) logger.warn(`raft storage: ${note}`);
    voter = VoterFile.open(fsApi, dir, voterRead.generation, voterRead.state);
  } else if (!hasData) {
    voter = await VoterFile.create(fsApi, dir, INITIAL_VOTER_STATE);
  } else if (journal.legacy && journal.segments.every((s) => s.format === 1)) {
    const { term, vote } = journal.hardState;
    voter = await VoterFile.create(fsApi, dir, { term, vote, recovery: null });
    logger.info(`raft storage: ${dir}: migrated from journal format 1: term ${term} and vote ${vote ?? 'none'} now kept in ${VOTER_FILE} (two checksummed copies)`);
  } else {
    throw new StorageCorruptError(`${dir}: the voter file "${VOTER_FILE}" (term and vote) is missing although the log is not empty`, null, null, dir);
  }

  const v = voter.state;
  // Evidence from the journal can only raise the term; a vote is kept only for the term it was cast in.
  const journalHs = journal.hardState;
  const term = Math.max(v.term, journalHs.term, journal.maxTerm);
  const vote = term === v.term ? v.vote : term === journalHs.term ? journalHs.vote : null;
  if (term > v.term) logger.warn(`raft storage: ${dir}: the log shows term ${term}, newer than the voter file's ${v.term}; restarting in term ${term}`);
  return { snapshot, journal, voter, hardState: { term, vote, commit: journalHs.commit }, recovery: v.recovery };
}

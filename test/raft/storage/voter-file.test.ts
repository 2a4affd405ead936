/**
 * The voter file (term, vote, recovery state in two checksummed copies) and the migration of a
 * format 1 data directory, whose term and vote lived only in the journal.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileStorage, StorageCorruptError, nodeFs, readVoterFile, VOTER_FILE } from '../../../src/raft/storage/index.js';
import { encodeEntries, encodeHardState, encodeHeader } from '../../../src/raft/storage/journal.js';
import { entries, recordingLogger, tempDir } from './helpers.js';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

function dataDir(): string {
  const t = tempDir();
  cleanups.push(t.remove);
  return t.dir;
}

async function open(dir: string) {
  const logger = recordingLogger();
  const storage = new FileStorage(dir, logger);
  const state = await storage.load();
  return { storage, state, logger };
}

async function withVote(dir: string, term: number, vote: string | null): Promise<void> {
  const { storage } = await open(dir);
  storage.setHardState({ term, vote, commit: 0 });
  await storage.close();
}

function damage(dir: string, offset: number): void {
  const path = join(dir, VOTER_FILE);
  const buf = readFileSync(path);
  buf[offset]! ^= 0x04;
  writeFileSync(path, buf);
}

describe('voter file', () => {
  it('keeps term and vote in two copies and reads them back', async () => {
    const dir = dataDir();
    await withVote(dir, 7, '10.0.0.2:5010');
    const read = await readVoterFile(nodeFs, dir);
    assert.equal(read.kind, 'ok');
    assert.deepEqual(read.kind === 'ok' && read.state, { term: 7, vote: '10.0.0.2:5010', recovery: null });
    const { state } = await open(dir);
    assert.deepEqual(state.hardState, { term: 7, vote: '10.0.0.2:5010', commit: 0 });
  });

  for (const [which, offset] of [['first', 20], ['second', 4096 + 20]] as const) {
    it(`uses the other copy when the ${which} one is damaged, and says so`, async () => {
      const dir = dataDir();
      await withVote(dir, 4, 'a:1');
      damage(dir, offset);
      const { state, logger, storage } = await open(dir);
      assert.deepEqual(state.hardState, { term: 4, vote: 'a:1', commit: 0 });
      assert.match(logger.at('warn')[0]!, new RegExp(`copy ${which === 'first' ? 1 : 2} at offset ${which === 'first' ? 0 : 4096} is damaged`));
      // The next write repairs both copies.
      storage.setHardState({ term: 5, vote: null, commit: 0 });
      await storage.close();
      const again = await open(dir);
      assert.deepEqual(again.logger.at('warn'), []);
      assert.equal(again.state.hardState.term, 5);
    });
  }

  it('refuses to start when neither copy is valid', async () => {
    const dir = dataDir();
    await withVote(dir, 4, 'a:1');
    damage(dir, 20);
    damage(dir, 4096 + 20);
    const err = await new FileStorage(dir, recordingLogger()).load().then(() => null, (e: unknown) => e);
    assert.ok(err instanceof StorageCorruptError, String(err));
    assert.match(err.message, /voter: no valid copy of term and vote .*checksum mismatch/);
    assert.match(err.message, /hactl raft recover --data-dir/);
  });

  it('refuses to start when the voter file is gone but the log is not', async () => {
    const dir = dataDir();
    const { storage } = await open(dir);
    storage.setHardState({ term: 2, vote: 'a:1', commit: 0 });
    storage.append(entries(1, 3, 2));
    await storage.close();
    const { unlinkSync } = await import('node:fs');
    unlinkSync(join(dir, VOTER_FILE));
    await assert.rejects(new FileStorage(dir, recordingLogger()).load(), /the voter file "voter" \(term and vote\) is missing although the log is not empty/);
  });

  it('keeps a recovery in progress across restarts until it is cleared', async () => {
    const dir = dataDir();
    const a = await open(dir);
    a.storage.setRecovery({ learnerAt: null });
    await a.storage.close();
    const b = await open(dir);
    assert.deepEqual(b.state.recovery, { learnerAt: null });
    b.storage.setRecovery({ learnerAt: 1234567 });
    b.storage.setHardState({ term: 3, vote: null, commit: 0 });
    await b.storage.close();
    const c = await open(dir);
    assert.deepEqual(c.state.recovery, { learnerAt: 1234567 }, 'a term change keeps the recovery state');
    c.storage.setRecovery(null);
    await c.storage.close();
    assert.equal((await open(dir)).state.recovery, null);
  });
});

describe('format 1 data directories', () => {
  /** A journal as hactl wrote it before the voter file existed: term and vote only in HARD_STATE records. */
  function writeLegacy(dir: string, tail: Buffer = Buffer.alloc(0)): void {
    const seg = Buffer.concat([
      encodeHeader(1, 1),
      encodeHardState({ term: 0, vote: null, commit: 0 }),
      encodeEntries(entries(1, 5, 3)),
      encodeHardState({ term: 3, vote: 'b:1', commit: 4 }),
      tail,
    ]);
    writeFileSync(join(dir, '0000000000000001.wal'), seg);
  }

  it('migrates a clean one: term and vote move to the voter file, new writes go to a new segment', async () => {
    const dir = dataDir();
    writeLegacy(dir);
    const a = await open(dir);
    assert.deepEqual(a.state.hardState, { term: 3, vote: 'b:1', commit: 4 });
    assert.equal(a.state.entries.length, 5);
    assert.match(a.logger.lines.map((l) => l.message).join('\n'), /migrated from journal format 1: term 3 and vote b:1/);
    assert.ok(existsSync(join(dir, VOTER_FILE)));
    a.storage.append(entries(6, 7, 3));
    await a.storage.close();
    assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.wal')).sort(), ['0000000000000001.wal', '0000000000000002.wal']);
    const b = await open(dir);
    assert.deepEqual(b.state.hardState, { term: 3, vote: 'b:1', commit: 4 });
    assert.deepEqual(b.state.entries.map((e) => e.index), [1, 2, 3, 4, 5, 6, 7]);
  });

  it('refuses a damaged one: format 1 cannot tell a torn write from corruption', async () => {
    const dir = dataDir();
    writeLegacy(dir, Buffer.from([0, 0, 0, 9, 1, 2]));
    await assert.rejects(new FileStorage(dir, recordingLogger()).load(), (e: unknown) => e instanceof StorageCorruptError && /written by an older hactl/.test(e.message) && /hactl raft recover/.test(e.message));
    assert.equal(existsSync(join(dir, VOTER_FILE)), false, 'nothing was migrated');
  });
});

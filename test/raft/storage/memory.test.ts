import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage } from '../../../src/raft/storage/index.js';
import { TermIndex } from '../../../src/raft/storage/term-index.js';
import { entries, entry, ids, recordingLogger } from './helpers.js';

describe('MemoryStorage', () => {
  it('says it keeps nothing across restarts', async () => {
    const logger = recordingLogger();
    const storage = new MemoryStorage(logger);
    assert.equal(storage.inMemory, true);
    await storage.load();
    assert.match(logger.at('warn')[0]!, /no data_dir set/);
  });

  it('loses exactly the writes not yet synced when it crashes', async () => {
    const storage = new MemoryStorage();
    storage.append(entries(1, 3, 1));
    storage.setHardState({ term: 1, vote: 'a:1', commit: 2 });
    await storage.sync();
    storage.append(entries(3, 4, 2));
    storage.setHardState({ term: 2, vote: 'b:1', commit: 3 });
    storage.crash();
    const state = await storage.load();
    assert.deepEqual(ids(state.entries), [[1, 1], [2, 1], [3, 1]]);
    assert.deepEqual(state.hardState, { term: 1, vote: 'a:1', commit: 2 });
  });

  it('replaces a suffix and applies snapshots like the file storage', async () => {
    const storage = new MemoryStorage();
    storage.append(entries(1, 10, 1));
    storage.append(entries(8, 9, 2));
    await storage.saveSnapshot({ meta: { index: 5, term: 1, membership: { voters: [], learners: [] } }, data: new Uint8Array() });
    assert.deepEqual(ids((await storage.load()).entries), [[6, 1], [7, 1], [8, 2], [9, 2]]);
    await storage.saveSnapshot({ meta: { index: 7, term: 3, membership: { voters: [], learners: [] } }, data: new Uint8Array() });
    assert.deepEqual((await storage.load()).entries, []);
  });

  it('rejects syncs while failing and keeps the pending writes for later', async () => {
    const storage = new MemoryStorage();
    storage.failSyncs(new Error('ENOSPC'));
    storage.append([entry(1, 1)]);
    await assert.rejects(storage.sync(), /ENOSPC/);
    storage.failSyncs(null);
    await storage.sync();
    assert.equal((await storage.load()).entries.length, 1);
  });
});

describe('TermIndex', () => {
  it('knows the term of every stored index through appends, truncation and compaction', () => {
    const t = new TermIndex();
    t.reset(0, 0);
    t.append(entries(1, 5, 1));
    t.append(entries(6, 8, 2));
    t.append(entries(7, 9, 3));
    assert.deepEqual([0, 1, 5, 6, 7, 9, 10].map((i) => t.termAt(i)), [null, 1, 1, 2, 3, 3, null]);
    t.compactTo(6);
    assert.deepEqual([5, 6, 7, 9].map((i) => t.termAt(i)), [null, 2, 3, 3]);
    assert.equal(t.firstIndex, 7);
    t.compactTo(12);
    assert.equal(t.lastIndex, 12);
    assert.throws(() => t.append([entry(12, 4)]), /reaches into the snapshot/);
    t.append([entry(13, 4)]);
    assert.equal(t.termAt(13), 4);
  });
});

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Snapshot } from '../../../src/raft/core/types.js';
import { FileStorage } from '../../../src/raft/storage/index.js';
import { scanSegment } from '../../../src/raft/storage/journal.js';
import { entries, entry, FaultFs, ids, recordingLogger, tempDir } from './helpers.js';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

function dataDir(): string {
  const t = tempDir();
  cleanups.push(t.remove);
  return t.dir;
}

function snapshot(index: number, term: number, data = `state@${index}`): Snapshot {
  return { meta: { index, term, membership: { voters: ['a:1', 'b:1'], learners: [] } }, data: Buffer.from(data) };
}

async function reopen(dir: string, options = {}) {
  const logger = recordingLogger();
  const storage = new FileStorage(dir, logger, options);
  const state = await storage.load();
  return { storage, state, logger };
}

describe('FileStorage', () => {
  it('starts empty in a new directory', async () => {
    const { storage, state } = await reopen(dataDir());
    assert.deepEqual(state, { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [], recovery: null });
    assert.equal(storage.inMemory, false);
    await storage.close();
  });

  it('returns synced entries, hard state and snapshot after close and reopen', async () => {
    const dir = dataDir();
    const a = await reopen(dir);
    a.storage.append(entries(1, 5, 1));
    a.storage.setHardState({ term: 1, vote: 'a:1', commit: 3 });
    await a.storage.sync();
    a.storage.append([{ index: 6, term: 2, type: 'config', data: new Uint8Array([1, 2, 3]) }]);
    a.storage.setHardState({ term: 2, vote: null, commit: 5 });
    await a.storage.saveSnapshot(snapshot(4, 1));
    await a.storage.close();

    const b = await reopen(dir);
    assert.deepEqual(b.state.hardState, { term: 2, vote: null, commit: 5 });
    assert.deepEqual(b.state.snapshot, snapshot(4, 1));
    assert.deepEqual(ids(b.state.entries), [[5, 1], [6, 2]]);
    assert.equal(b.state.entries[1]!.type, 'config');
    assert.deepEqual([...b.state.entries[1]!.data], [1, 2, 3]);
    assert.deepEqual(b.logger.at('warn'), []);
    await b.storage.close();
  });

  it('replaces the suffix when an append starts at or below the last index', async () => {
    const dir = dataDir();
    const a = await reopen(dir);
    a.storage.append(entries(1, 10, 1));
    await a.storage.sync();
    a.storage.append(entries(6, 7, 2)); // replaces 6..10 of term 1
    a.storage.append(entries(7, 8, 3)); // and again, inside one batch
    await a.storage.sync();
    await a.storage.close();

    const b = await reopen(dir);
    assert.deepEqual(ids(b.state.entries), [[1, 1], [2, 1], [3, 1], [4, 1], [5, 1], [6, 2], [7, 3], [8, 3]]);
    b.storage.append(entries(2, 2, 4));
    await b.storage.close();
    const c = await reopen(dir);
    assert.deepEqual(ids(c.state.entries), [[1, 1], [2, 4]]);
    await c.storage.close();
  });

  it('rejects an append that would leave a gap', async () => {
    const { storage } = await reopen(dataDir());
    storage.append(entries(1, 3, 1));
    assert.throws(() => storage.append([entry(5, 1)]), /gap/);
    await storage.close();
  });

  it('group-commits many appends and syncs into a few fdatasyncs', async () => {
    const fs = new FaultFs();
    const { storage } = await reopen(dataDir(), { fs });
    storage.setHardState({ term: 1, vote: 'a:1', commit: 0 });
    await storage.sync();
    const before = fs.count('fdatasync');
    const syncs: Promise<void>[] = [];
    for (let i = 1; i <= 500; i++) {
      storage.append([entry(i, 1)]);
      storage.setHardState({ term: 1, vote: 'a:1', commit: i - 1 });
      syncs.push(storage.sync());
    }
    await Promise.all(syncs);
    // The first sync starts a write at once; the other 499 arrive during it and share the next.
    assert.ok(fs.count('fdatasync') - before <= 2, `fdatasyncs: ${fs.count('fdatasync') - before}`);
    await storage.close();
  });

  it('makes a sync that arrives during an fdatasync wait for the next one', async () => {
    const fs = new FaultFs();
    const dir = dataDir();
    const { storage } = await reopen(dir, { fs });
    const before = fs.count('fdatasync');
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let holds = 0;
    fs.before = (op) => (op === 'fdatasync' && holds++ === 0 ? held : undefined);

    storage.append([entry(1, 1)]);
    const first = storage.sync();
    while (holds === 0) await new Promise((r) => setImmediate(r));
    assert.equal(holds, 1, 'the first fdatasync is in flight');
    storage.append([entry(2, 1)]);
    let secondDone = false;
    const second = storage.sync().then(() => (secondDone = true));
    const third = storage.sync(); // nothing new: shares the second write
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(secondDone, false, 'entry 2 is not in the write being synced');
    release();
    await Promise.all([first, second, third]);
    assert.equal(fs.count('fdatasync') - before, 2);
    await storage.close();
    const b = await reopen(dir);
    assert.deepEqual(ids(b.state.entries), [[1, 1], [2, 1]]);
    await b.storage.close();
  });

  it('resolves sync at once when nothing is pending', async () => {
    const fs = new FaultFs();
    const { storage } = await reopen(dataDir(), { fs });
    const before = fs.count('fdatasync');
    await storage.sync();
    assert.equal(fs.count('fdatasync') - before, 0);
    await storage.close();
  });

  it('rotates segments and deletes the ones a snapshot covers', async () => {
    const dir = dataDir();
    const a = await reopen(dir, { segmentBytes: 1024 });
    for (let i = 1; i <= 200; i += 10) {
      a.storage.append(entries(i, i + 9, 1));
      await a.storage.sync();
    }
    const segmentsBefore = readdirSync(dir).filter((n) => n.endsWith('.wal')).length;
    assert.ok(segmentsBefore > 3, `segments: ${segmentsBefore}`);
    a.storage.setHardState({ term: 1, vote: 'b:1', commit: 150 });
    await a.storage.saveSnapshot(snapshot(150, 1));
    const segmentsAfter = readdirSync(dir).filter((n) => n.endsWith('.wal')).length;
    assert.ok(segmentsAfter < segmentsBefore, `segments: ${segmentsBefore} → ${segmentsAfter}`);
    a.storage.append(entries(201, 205, 1));
    await a.storage.close();

    const b = await reopen(dir);
    assert.equal(b.state.snapshot?.meta.index, 150);
    assert.deepEqual(b.state.hardState, { term: 1, vote: 'b:1', commit: 150 });
    assert.deepEqual(b.state.entries.map((e) => e.index), Array.from({ length: 55 }, (_, i) => 151 + i));
    await b.storage.close();
  });

  it('discards a conflicting log when a snapshot from the leader replaces it', async () => {
    const dir = dataDir();
    const a = await reopen(dir);
    a.storage.append(entries(1, 30, 1));
    await a.storage.sync();
    // Leader's snapshot at 20 is from term 3: our entries 1..30 of term 1 are not its history.
    a.storage.setHardState({ term: 3, vote: null, commit: 20 });
    const saved = a.storage.saveSnapshot(snapshot(20, 3));
    a.storage.append(entries(21, 22, 3)); // queued behind the snapshot, must survive it
    await saved;
    await a.storage.close();

    const b = await reopen(dir);
    assert.equal(b.state.snapshot?.meta.index, 20);
    assert.deepEqual(ids(b.state.entries), [[21, 3], [22, 3]]);
    await b.storage.close();
  });

  it('keeps the entries after a snapshot that agrees with the log', async () => {
    const dir = dataDir();
    const a = await reopen(dir);
    a.storage.append(entries(1, 30, 2));
    await a.storage.saveSnapshot(snapshot(20, 2));
    await a.storage.close();
    const b = await reopen(dir);
    assert.deepEqual(b.state.entries.map((e) => e.index), Array.from({ length: 10 }, (_, i) => 21 + i));
    await b.storage.close();
  });

  it('keeps the log when a snapshot is saved again at the same index', async () => {
    const dir = dataDir();
    const a = await reopen(dir);
    a.storage.append(entries(1, 10, 2));
    await a.storage.saveSnapshot(snapshot(5, 2));
    await a.storage.close();
    const b = await reopen(dir);
    await b.storage.saveSnapshot(snapshot(5, 2, 'same index, newer encoding'));
    await assert.rejects(b.storage.saveSnapshot(snapshot(4, 2)), /older than the stored one/);
    await b.storage.close();
    const c = await reopen(dir);
    assert.deepEqual(c.state.entries.map((e) => e.index), [6, 7, 8, 9, 10]);
    await c.storage.close();
  });

  it('keeps syncing the log while a slow snapshot file is written, and marks the journal only after it is durable', async () => {
    const fs = new FaultFs();
    const dir = dataDir();
    const { storage } = await reopen(dir, { fs });
    storage.append(entries(1, 20, 1));
    await storage.sync();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let snapshotFsyncs = 0;
    // A disk that takes its time with the snapshot file (think 100 MB of state).
    fs.before = (op, path) => (op === 'fdatasync' && path.endsWith('snapshot.tmp') && snapshotFsyncs++ === 0 ? held : undefined);

    let saved = false;
    const saving = storage.saveSnapshot(snapshot(10, 1)).then(() => (saved = true));
    while (snapshotFsyncs === 0) await new Promise((r) => setImmediate(r));
    storage.append(entries(21, 25, 1));
    storage.setHardState({ term: 1, vote: 'a:1', commit: 25 });
    await storage.sync(); // would hang here if log syncs queued behind the snapshot
    storage.append(entries(26, 26, 1));
    await storage.sync();
    assert.equal(saved, false, 'the snapshot file is still being written');
    assert.equal(fs.count('unlink'), 0, 'no segment is deleted before the snapshot is durable');
    const marks = readdirSync(dir)
      .filter((n) => n.endsWith('.wal'))
      .flatMap((n) => scanSegment(readFileSync(join(dir, n)), Number(n.slice(0, 16))).records)
      .filter((r) => r.kind === 'snapshot');
    assert.deepEqual(marks, [], 'no SNAPSHOT record before the snapshot file is durable');

    release();
    await saving;
    await storage.close();
    const b = await reopen(dir);
    assert.equal(b.state.snapshot?.meta.index, 10);
    assert.deepEqual(b.state.entries.map((e) => e.index), Array.from({ length: 16 }, (_, i) => 11 + i));
    assert.deepEqual(b.state.hardState, { term: 1, vote: 'a:1', commit: 25 });
    await b.storage.close();
  });

  it('refuses writes before load()', () => {
    const storage = new FileStorage(dataDir(), recordingLogger());
    assert.throws(() => storage.append([entry(1, 1)]), /load\(\)/);
  });
});

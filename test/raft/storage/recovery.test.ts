import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Snapshot } from '../../../src/raft/core/types.js';
import { FileStorage, StorageCorruptError, nodeFs } from '../../../src/raft/storage/index.js';
import { writeSnapshotFile } from '../../../src/raft/storage/snapshot-file.js';
import { entries, ids, recordingLogger, tempDir } from './helpers.js';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

function dataDir(): string {
  const t = tempDir();
  cleanups.push(t.remove);
  return t.dir;
}

function snapshot(index: number, term: number): Snapshot {
  return { meta: { index, term, membership: { voters: ['a:1'], learners: [] } }, data: Buffer.from(`state@${index}`) };
}

async function open(dir: string, segmentBytes?: number) {
  const logger = recordingLogger();
  const storage = new FileStorage(dir, logger, segmentBytes ? { segmentBytes } : {});
  const state = await storage.load();
  return { storage, state, logger };
}

/** Ten synced batches of 5 entries (indexes 1..50, term 1) in one segment. */
async function tenBatches(dir: string, segmentBytes?: number): Promise<void> {
  const { storage } = await open(dir, segmentBytes);
  for (let b = 0; b < 10; b++) {
    storage.append(entries(b * 5 + 1, b * 5 + 5, 1));
    storage.setHardState({ term: 1, vote: 'a:1', commit: b * 5 });
    await storage.sync();
  }
  await storage.close();
}

function segments(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.wal'))
    .sort()
    .map((n) => join(dir, n));
}

function flipBit(file: string, offset: number): void {
  const buf = readFileSync(file);
  buf[offset]! ^= 0x10;
  writeFileSync(file, buf);
}

describe('FileStorage recovery', () => {
  it('cuts a torn last record at the last good record and says where', async () => {
    const dir = dataDir();
    await tenBatches(dir);
    const [seg] = segments(dir);
    const size = statSync(seg!).size;
    truncateSync(seg!, size - 3);

    const a = await open(dir);
    assert.deepEqual(a.state.entries.map((e) => e.index), Array.from({ length: 50 }, (_, i) => i + 1));
    // The torn record was the last hard state; the previous one (commit 40) is what counts.
    assert.deepEqual(a.state.hardState, { term: 1, vote: 'a:1', commit: 40 });
    const [warning] = a.logger.at('warn');
    assert.match(warning!, new RegExp(`${seg}: torn or corrupt record at offset \\d+ \\(truncated record`));
    const offset = Number(/offset (\d+)/.exec(warning!)![1]);
    assert.equal(statSync(seg!).size, offset, 'the file is physically cut there');
    a.storage.append(entries(51, 51, 2));
    await a.storage.close();

    const b = await open(dir);
    assert.deepEqual(b.logger.at('warn'), []);
    assert.deepEqual(ids(b.state.entries.slice(-2)), [[50, 1], [51, 2]]);
    await b.storage.close();
  });

  it('never applies a last record whose checksum does not match', async () => {
    const dir = dataDir();
    await tenBatches(dir);
    const w = await open(dir);
    w.storage.append(entries(51, 55, 1)); // the last record: an entries batch
    await w.storage.close();
    const [seg] = segments(dir);
    flipBit(seg!, statSync(seg!).size - 3);
    const a = await open(dir);
    assert.deepEqual(a.logger.at('error'), []);
    assert.match(a.logger.at('warn')[0]!, /checksum mismatch/);
    assert.equal(a.state.entries.length, 50);
    assert.ok(a.state.entries.every((e, i) => e.index === i + 1 && Buffer.from(e.data).toString() === `${e.index}:1`));
    await a.storage.close();
  });

  it('cuts zero-filled or garbage bytes after the last record', async () => {
    const dir = dataDir();
    await tenBatches(dir);
    const [seg] = segments(dir);
    const size = statSync(seg!).size;
    appendFileSync(seg!, Buffer.alloc(4096));
    const a = await open(dir);
    assert.match(a.logger.at('warn')[0]!, new RegExp(`offset ${size} \\(implausible record length 0\\)`));
    assert.equal(a.state.entries.length, 50);
    assert.equal(statSync(seg!).size, size);
    await a.storage.close();
  });

  it('treats corruption followed by valid records as an error, truncates there and keeps the rest aside', async () => {
    const dir = dataDir();
    await tenBatches(dir);
    const [seg] = segments(dir);
    flipBit(seg!, Math.floor(statSync(seg!).size / 2));
    const a = await open(dir);
    const [error] = a.logger.at('error');
    assert.match(error!, /corrupt record at offset \d+ \(checksum mismatch\) with valid data after it/);
    assert.ok(existsSync(`${seg}.corrupt`));
    const n = a.state.entries.length;
    assert.ok(n > 0 && n < 50, `kept ${n} entries`);
    assert.ok(a.state.hardState.commit <= n);
    a.storage.append(entries(n + 1, n + 3, 2));
    await a.storage.close();
    const b = await open(dir);
    assert.equal(b.state.entries.length, n + 3);
    assert.deepEqual(b.logger.at('error'), []);
    await b.storage.close();
  });

  it('moves later segments aside when an earlier segment is damaged', async () => {
    const dir = dataDir();
    await tenBatches(dir, 300);
    const segs = segments(dir);
    assert.ok(segs.length >= 3, `segments: ${segs.length}`);
    flipBit(segs[1]!, statSync(segs[1]!).size - 5);
    const a = await open(dir);
    assert.match(a.logger.at('error')[0]!, /later segment\(s\) renamed to \*\.corrupt/);
    assert.deepEqual(segments(dir), segs.slice(0, 2));
    for (const s of segs.slice(2)) assert.ok(existsSync(`${s}.corrupt`));
    const idx = a.state.entries.map((e) => e.index);
    assert.deepEqual(idx, Array.from({ length: idx.length }, (_, i) => i + 1));
    await a.storage.close();
  });

  it('removes a segment whose header never made it to disk', async () => {
    const dir = dataDir();
    await tenBatches(dir);
    const stray = join(dir, '0000000000000002.wal');
    writeFileSync(stray, Buffer.from([0, 0, 0]));
    const a = await open(dir);
    assert.equal(existsSync(stray), false);
    assert.equal(a.state.entries.length, 50);
    a.storage.append(entries(51, 52, 1));
    await a.storage.close();
    assert.equal((await open(dir)).state.entries.length, 52);
  });

  it('ignores and removes a half-written snapshot temp file', async () => {
    const dir = dataDir();
    const a = await open(dir);
    a.storage.append(entries(1, 10, 1));
    await a.storage.saveSnapshot(snapshot(5, 1));
    await a.storage.close();
    writeFileSync(join(dir, 'snapshot.tmp'), Buffer.from('half a snaps'));
    const b = await open(dir);
    assert.match(b.logger.at('warn')[0]!, /removing .*snapshot\.tmp/);
    assert.equal(existsSync(join(dir, 'snapshot.tmp')), false);
    assert.deepEqual(b.state.snapshot, snapshot(5, 1));
    assert.equal(b.state.entries.length, 5);
    await b.storage.close();
  });

  it('refuses to start from a damaged snapshot file rather than from a log with a hole', async () => {
    const dir = dataDir();
    const a = await open(dir);
    a.storage.append(entries(1, 10, 1));
    await a.storage.saveSnapshot(snapshot(5, 1));
    await a.storage.close();
    flipBit(join(dir, 'snapshot'), 12);
    await assert.rejects(new FileStorage(dir, recordingLogger()).load(), StorageCorruptError);
  });

  // A crash after the snapshot rename but before its journal record: the snapshot file is new,
  // the journal still holds the old log. The rule of Raft §7 is applied at load instead.
  it('keeps the log after a snapshot written just before a crash when the log agrees with it', async () => {
    const dir = dataDir();
    await tenBatches(dir);
    await writeSnapshotFile(nodeFs, dir, snapshot(20, 1));
    const a = await open(dir);
    assert.deepEqual(a.state.entries.map((e) => e.index), Array.from({ length: 30 }, (_, i) => i + 21));
    await a.storage.close();
  });

  it('drops a log that conflicts with a snapshot written just before a crash', async () => {
    const dir = dataDir();
    await tenBatches(dir);
    await writeSnapshotFile(nodeFs, dir, snapshot(20, 4));
    const a = await open(dir);
    assert.deepEqual(a.state.entries, []);
    assert.match(a.logger.at('warn')[0]!, /conflict with the snapshot at index 20/);
    await a.storage.close();
  });
});

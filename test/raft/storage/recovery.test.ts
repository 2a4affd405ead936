import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Snapshot } from '../../../src/raft/core/types.js';
import { FileStorage, StorageCorruptError, nodeFs } from '../../../src/raft/storage/index.js';
import { scanSegment } from '../../../src/raft/storage/journal.js';
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

/** The StorageCorruptError of a refused load, checked to name the file, offset and recovery path. */
async function refused(dir: string, file: RegExp): Promise<StorageCorruptError> {
  const err = await new FileStorage(dir, recordingLogger()).load().then(
    () => assert.fail('load() should refuse'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof StorageCorruptError, String(err));
  assert.match(err.message, file);
  assert.match(err.message, new RegExp(`hactl raft recover --data-dir ${dir}`));
  return err;
}

/** Offset and length of the last write (its BATCH record) of a segment, read back from the file. */
function lastWrite(seg: string): { offset: number; length: number } {
  const buf = readFileSync(seg);
  const scan = scanSegment(buf, Number(/(\d{16})\.wal$/.exec(seg)![1]));
  const mark = scan.marks[scan.marks.length - 1]!;
  return { offset: mark.offset, length: mark.length };
}

describe('FileStorage recovery', () => {
  it('cuts a torn last write at its first damaged record and says where', async () => {
    const dir = dataDir();
    await tenBatches(dir);
    const [seg] = segments(dir);
    const size = statSync(seg!).size;
    truncateSync(seg!, size - 3);

    const a = await open(dir);
    assert.deepEqual(a.state.entries.map((e) => e.index), Array.from({ length: 50 }, (_, i) => i + 1));
    // Only the write's closing BATCH record was cut: the records before it stay.
    assert.deepEqual(a.state.hardState, { term: 1, vote: 'a:1', commit: 45 });
    const [warning] = a.logger.at('warn');
    assert.match(warning!, new RegExp(`${seg}: torn write at offset \\d+ \\(the write at offset \\d+ .*ends past the end of the file\\)`));
    const offset = Number(/offset (\d+)/.exec(warning!)![1]);
    assert.equal(statSync(seg!).size, offset, 'the file is physically cut there');
    a.storage.setHardState({ term: 2, vote: null, commit: 40 });
    a.storage.append(entries(51, 51, 2));
    await a.storage.close();

    const b = await open(dir);
    assert.deepEqual(b.logger.at('warn'), []);
    assert.deepEqual(ids(b.state.entries.slice(-2)), [[50, 1], [51, 2]]);
    await b.storage.close();
  });

  it('refuses a complete last write whose checksum does not match: it may have been acknowledged', async () => {
    const dir = dataDir();
    await tenBatches(dir);
    const [seg] = segments(dir);
    const at = statSync(seg!).size - 3;
    flipBit(seg!, at);
    const err = await refused(dir, new RegExp(`${seg}: damaged record at offset \\d+ \\(checksum mismatch; the whole write at offset \\d+`));
    assert.equal(err.file, seg);
    assert.ok(err.offset !== null && err.offset <= at);
  });

  it('cuts a last write whose sectors never reached the disk (zeros inside a complete-length write)', async () => {
    const dir = dataDir();
    const w = await open(dir);
    w.storage.setHardState({ term: 1, vote: 'a:1', commit: 0 });
    w.storage.append(entries(1, 5, 1));
    await w.storage.sync();
    w.storage.append(entries(6, 200, 1)); // one write of several sectors
    await w.storage.close();
    const [seg] = segments(dir);
    const last = lastWrite(seg!);
    assert.ok(last.length > 2048, `write of ${last.length} bytes`);
    const buf = readFileSync(seg!);
    const sector = Math.ceil((last.offset + 1024) / 512) * 512;
    buf.fill(0, sector, sector + 512);
    writeFileSync(seg!, buf);
    const a = await open(dir);
    assert.match(a.logger.at('warn')[0]!, /torn write at offset \d+ \(the write at offset \d+ has sectors that never reached the disk\)/);
    const idx = a.state.entries.map((e) => e.index);
    assert.ok(idx.length >= 5 && idx.length < 200, `kept ${idx.length}`);
    assert.deepEqual(idx, Array.from({ length: idx.length }, (_, i) => i + 1));
    assert.deepEqual(a.state.hardState.term, 1);
    await a.storage.close();
  });

  it('cuts zero-filled bytes after the last write', async () => {
    const dir = dataDir();
    await tenBatches(dir);
    const [seg] = segments(dir);
    const size = statSync(seg!).size;
    appendFileSync(seg!, Buffer.alloc(4096));
    const a = await open(dir);
    assert.match(a.logger.at('warn')[0]!, new RegExp(`torn write at offset ${size} \\(zeros where the next record would start\\)`));
    assert.equal(a.state.entries.length, 50);
    assert.equal(statSync(seg!).size, size);
    await a.storage.close();
  });

  it('refuses damage before the last synced offset, naming file and offset', async () => {
    const dir = dataDir();
    await tenBatches(dir);
    const [seg] = segments(dir);
    const at = Math.floor(statSync(seg!).size / 2);
    flipBit(seg!, at);
    const err = await refused(dir, /checksum mismatch; a later write at offset \d+ proves these bytes were already synced/);
    assert.equal(err.file, seg);
    assert.ok(err.offset !== null && err.offset <= at && at - err.offset < 200, `offset ${err.offset} for a flip at ${at}`);
    assert.ok(statSync(seg!).size > at, 'nothing was cut');
  });

  it('refuses damage in a segment that later segments follow', async () => {
    const dir = dataDir();
    await tenBatches(dir, 300);
    const segs = segments(dir);
    assert.ok(segs.length >= 3, `segments: ${segs.length}`);
    flipBit(segs[1]!, statSync(segs[1]!).size - 5);
    await refused(dir, new RegExp(`${segs[1]}: damaged record at offset \\d+ .*in a segment that later segments follow`));
    assert.deepEqual(segments(dir), segs, 'no segment was renamed or removed');
  });

  it('refuses a log that no longer reaches the snapshot (a segment went missing)', async () => {
    const dir = dataDir();
    await tenBatches(dir, 300);
    const segs = segments(dir);
    unlinkSync(segs[1]!);
    await refused(dir, /entries in between are missing/);
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
    await refused(dir, /snapshot .*snapshot is damaged \(checksum mismatch\)/);
  });

  it('refuses when the journal records a snapshot the snapshot file no longer holds', async () => {
    const dir = dataDir();
    const a = await open(dir);
    a.storage.append(entries(1, 10, 1));
    await a.storage.saveSnapshot(snapshot(5, 1));
    await a.storage.close();
    unlinkSync(join(dir, 'snapshot'));
    await refused(dir, /the journal records a snapshot at index 5, but the snapshot file is missing/);
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

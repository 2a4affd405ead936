import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Snapshot } from '../../../src/raft/core/types.js';
import { FileStorage, StorageIoError } from '../../../src/raft/storage/index.js';
import { entries, errno, FaultFs, recordingLogger, tempDir } from './helpers.js';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

function dataDir(): string {
  const t = tempDir();
  cleanups.push(t.remove);
  return t.dir;
}

function snapshot(index: number, term: number, bytes = 10_000): Snapshot {
  return { meta: { index, term, membership: { voters: ['a:1'], learners: [] } }, data: Buffer.alloc(bytes, index) };
}

async function open(dir: string, fs?: FaultFs) {
  const logger = recordingLogger();
  const storage = new FileStorage(dir, logger, fs ? { fs } : {});
  const state = await storage.load();
  return { storage, state, logger };
}

function indexes(state: { entries: { index: number }[] }): number[] {
  return state.entries.map((e) => e.index);
}

describe('FileStorage on a full or failing disk', () => {
  it('rejects sync with the file and errno on ENOSPC mid-write, and keeps earlier durable state', async () => {
    const dir = dataDir();
    const fs = new FaultFs();
    const a = await open(dir, fs);
    a.storage.append(entries(1, 10, 1));
    a.storage.setHardState({ term: 1, vote: 'a:1', commit: 10 });
    await a.storage.sync();

    fs.writeFault = { error: errno('ENOSPC', 'write'), afterBytes: 37 }; // a torn, partial write
    a.storage.append(entries(11, 20, 1));
    a.storage.setHardState({ term: 1, vote: 'a:1', commit: 20 });
    const err = await a.storage.sync().then(
      () => assert.fail('sync should reject'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StorageIoError);
    assert.equal(err.code, 'ENOSPC');
    assert.match(err.message, /write .*0000000000000001\.wal failed: ENOSPC: no space left on device/);
    await assert.rejects(a.storage.close(), /ENOSPC/); // close tries once more, still full

    // What a restart finds now: exactly the state acknowledged before the failure.
    const b = await open(dir);
    assert.deepEqual(indexes(b.state), Array.from({ length: 10 }, (_, i) => i + 1));
    assert.deepEqual(b.state.hardState, { term: 1, vote: 'a:1', commit: 10 });
    assert.match(b.logger.at('warn')[0]!, /torn write at offset \d+ .*never acknowledged/);
    await b.storage.close();
  });

  it('keeps the previous term and vote when writing the voter file fails', async () => {
    const dir = dataDir();
    const fs = new FaultFs();
    const a = await open(dir, fs);
    a.storage.setHardState({ term: 3, vote: 'a:1', commit: 0 });
    await a.storage.sync();
    fs.writeFault = { error: errno('EIO', 'write'), afterBytes: 0 };
    a.storage.setHardState({ term: 4, vote: 'b:1', commit: 0 });
    await assert.rejects(a.storage.sync(), (e: unknown) => e instanceof StorageIoError && /write .*voter failed: EIO/.test(e.message));
    const b = await open(dir);
    assert.deepEqual(b.state.hardState, { term: 3, vote: 'a:1', commit: 0 });
    await b.storage.close();
    fs.writeFault = null;
    await a.storage.close();
    const c = await open(dir);
    assert.deepEqual(c.state.hardState, { term: 4, vote: 'b:1', commit: 0 }, 'the retried write lands');
    await c.storage.close();
  });

  it('writes the failed batch again once space returns, at the same offset', async () => {
    const dir = dataDir();
    const fs = new FaultFs();
    const a = await open(dir, fs);
    a.storage.setHardState({ term: 1, vote: null, commit: 0 });
    a.storage.append(entries(1, 10, 1));
    await a.storage.sync();
    fs.writeFault = { error: errno('ENOSPC', 'write'), afterBytes: 100 };
    a.storage.append(entries(11, 20, 1));
    await assert.rejects(a.storage.sync(), /ENOSPC/);
    a.storage.append(entries(21, 25, 1)); // the node keeps going as a follower meanwhile
    await assert.rejects(a.storage.sync(), /ENOSPC/);

    fs.writeFault = null;
    await a.storage.sync();
    await a.storage.close();
    const b = await open(dir);
    assert.deepEqual(indexes(b.state), Array.from({ length: 25 }, (_, i) => i + 1));
    assert.deepEqual(b.logger.at('warn'), [], 'no garbage was left between records');
    await b.storage.close();
  });

  it('rewrites the data after a failed fdatasync instead of trusting a second fsync', async () => {
    const dir = dataDir();
    const fs = new FaultFs();
    const a = await open(dir, fs);
    a.storage.append(entries(1, 5, 1));
    await a.storage.sync();
    let failNext = true;
    fs.before = (op) => {
      if (op === 'fdatasync' && failNext) {
        failNext = false;
        throw errno('EIO', 'fdatasync');
      }
    };
    a.storage.append(entries(6, 8, 1));
    await assert.rejects(a.storage.sync(), /fdatasync .*\.wal failed: EIO/);
    const writesBefore = fs.count('write');
    await a.storage.sync();
    assert.ok(fs.count('write') > writesBefore, 'the batch was written again');
    await a.storage.close();
    const b = await open(dir);
    assert.deepEqual(indexes(b.state), [1, 2, 3, 4, 5, 6, 7, 8]);
    await b.storage.close();
  });

  it('fails a snapshot on a full disk without touching the old one, and retries it on the next sync', async () => {
    const dir = dataDir();
    const fs = new FaultFs();
    const a = await open(dir, fs);
    a.storage.append(entries(1, 20, 1));
    await a.storage.saveSnapshot(snapshot(5, 1));
    const before = readFileSync(join(dir, 'snapshot'));

    fs.writeFault = { error: errno('ENOSPC', 'write'), afterBytes: 4096 };
    await assert.rejects(a.storage.saveSnapshot(snapshot(15, 1)), /write .*snapshot\.tmp failed: ENOSPC/);
    assert.deepEqual(readFileSync(join(dir, 'snapshot')), before);
    assert.equal(existsSync(join(dir, 'snapshot.tmp')), false, 'the partial temp file is removed');

    fs.writeFault = null;
    a.storage.append(entries(21, 22, 1));
    await a.storage.sync();
    await a.storage.close();
    const b = await open(dir);
    assert.equal(b.state.snapshot?.meta.index, 15);
    assert.deepEqual(indexes(b.state), [16, 17, 18, 19, 20, 21, 22]);
    await b.storage.close();
  });

  it('fails every waiting sync when a write fails, and does not retry on its own', async () => {
    const dir = dataDir();
    const fs = new FaultFs();
    const a = await open(dir, fs);
    fs.writeFault = { error: errno('ENOSPC', 'write'), afterBytes: 0 };
    a.storage.append(entries(1, 1, 1));
    const first = a.storage.sync();
    a.storage.append(entries(2, 2, 1));
    const second = a.storage.sync();
    await assert.rejects(first, /ENOSPC/);
    await assert.rejects(second, /ENOSPC/);
    const writes = fs.count('write');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(fs.count('write'), writes, 'no busy retry loop on a full disk');
    fs.writeFault = null;
    await a.storage.close();
    const b = await open(dir);
    assert.deepEqual(indexes(b.state), [1, 2]);
    await b.storage.close();
  });
});

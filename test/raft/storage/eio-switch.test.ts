// The test-only EIO switch of `hactl raft node --test-eio-file` (eioSwitchFs, src/raft/storage/fs.ts):
// the fault it injects into real files, and FileStorage through it (refuses to acknowledge while the
// disk fails, persists again afterwards, and a restart loads only what was acknowledged).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eioSwitchFs, nodeFs } from '../../../src/raft/storage/fs.js';
import { FileStorage } from '../../../src/raft/storage/index.js';
import { entries, recordingLogger, tempDir } from './helpers.js';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

function setup(): { dir: string; control: string; fs: ReturnType<typeof eioSwitchFs> } {
  const t = tempDir();
  cleanups.push(t.remove);
  const control = join(t.dir, 'eio-control');
  return { dir: t.dir, control, fs: eioSwitchFs(nodeFs, control) };
}

async function rejectsEio(p: Promise<unknown>, syscall: string): Promise<void> {
  await assert.rejects(p, (err: NodeJS.ErrnoException) => err.code === 'EIO' && err.syscall === syscall && /--test-eio-file/.test(err.message));
}

describe('eioSwitchFs (the --test-eio-file switch)', () => {
  it('passes calls through while the control file is absent', async () => {
    const { dir, fs } = setup();
    const fd = await fs.open(join(dir, 'f'), 'w');
    assert.equal(await fs.write(fd, Buffer.from('hello'), 0, 5, 0), 5);
    await fs.fdatasync(fd);
    await fs.close(fd);
    assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'hello');
  });

  it('"all": writes, ftruncate and syncs fail with EIO and change nothing; removing the file heals', async () => {
    const { dir, control, fs } = setup();
    const file = join(dir, 'f');
    const fd = await fs.open(file, 'w');
    await fs.write(fd, Buffer.from('durable'), 0, 7, 0);
    await fs.fdatasync(fd);
    writeFileSync(control, 'all\n');
    await rejectsEio(fs.write(fd, Buffer.from('XXXX'), 0, 4, 0), 'write');
    await rejectsEio(fs.ftruncate(fd, 2), 'ftruncate');
    await rejectsEio(fs.fdatasync(fd), 'fdatasync');
    await rejectsEio(fs.fsync(fd), 'fsync');
    assert.equal(readFileSync(file, 'utf8'), 'durable');
    rmSync(control);
    await fs.write(fd, Buffer.from('!'), 0, 1, 7);
    await fs.fdatasync(fd);
    await fs.close(fd);
    assert.equal(readFileSync(file, 'utf8'), 'durable!');
  });

  it('"sync": a failed sync drops what was written since the last good one (fsyncgate), and a rewrite makes it durable', async () => {
    const { dir, control, fs } = setup();
    const file = join(dir, 'f');
    const fd = await fs.open(file, 'w');
    await fs.write(fd, Buffer.from('abcdef'), 0, 6, 0);
    await fs.fdatasync(fd);
    writeFileSync(control, 'sync');
    // An overwrite inside the file and an append past its end, both in the page cache...
    await fs.write(fd, Buffer.from('XY'), 0, 2, 2);
    await fs.write(fd, Buffer.from('ghij'), 0, 4, 6);
    assert.equal(readFileSync(file, 'utf8'), 'abXYefghij');
    // ...are gone once the sync failed: the old bytes are back and the file has its old length.
    await rejectsEio(fs.fdatasync(fd), 'fdatasync');
    assert.equal(readFileSync(file, 'utf8'), 'abcdef');
    // A later sync that succeeds does not bring them back; only writing them again does.
    rmSync(control);
    await fs.fdatasync(fd);
    assert.equal(readFileSync(file, 'utf8'), 'abcdef');
    await fs.write(fd, Buffer.from('ghij'), 0, 4, 6);
    await fs.fdatasync(fd);
    await fs.close(fd);
    assert.equal(readFileSync(file, 'utf8'), 'abcdefghij');
  });

  it('refuses a control file that says something else, naming it', async () => {
    const { dir, control, fs } = setup();
    writeFileSync(control, 'sometimes');
    const fd = await fs.open(join(dir, 'f'), 'w');
    await assert.rejects(fs.write(fd, Buffer.from('a'), 0, 1, 0), new RegExp(`${control}: expected "all" or "sync", found "sometimes"`));
    await fs.close(fd);
  });

  for (const mode of ['all', 'sync'] as const) {
    it(`FileStorage under "${mode}": sync rejects while the disk fails, succeeds after, and a restart loads exactly what was acknowledged`, async () => {
      const { dir, control, fs } = setup();
      const data = join(dir, 'raft');
      const a = new FileStorage(data, recordingLogger(), { fs });
      await a.load();
      a.append(entries(1, 5, 1));
      a.setHardState({ term: 1, vote: 'a:1', commit: 5 });
      await a.sync();
      writeFileSync(control, mode);
      a.append(entries(6, 8, 2));
      a.setHardState({ term: 2, vote: 'b:1', commit: 5 });
      await assert.rejects(a.sync(), /EIO/);
      // A restart now (the disk still failing, the process gone) loads the acknowledged state.
      const during = new FileStorage(data, recordingLogger(), { fs: nodeFs });
      const seen = await during.load();
      assert.deepEqual(seen.entries.map((e) => e.index), [1, 2, 3, 4, 5]);
      assert.equal(seen.hardState.term, 1);
      assert.equal(seen.hardState.vote, 'a:1');
      await during.close();
      rmSync(control);
      await a.sync();
      await a.close();
      const b = new FileStorage(data, recordingLogger(), { fs: nodeFs });
      const loaded = await b.load();
      assert.deepEqual(loaded.entries.map((e) => e.index), [1, 2, 3, 4, 5, 6, 7, 8]);
      assert.equal(loaded.hardState.term, 2);
      assert.equal(loaded.hardState.vote, 'b:1');
      await b.close();
    });
  }
});

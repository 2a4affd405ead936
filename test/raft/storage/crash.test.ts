/**
 * Real-file crash tests: a child process runs a workload on a real directory and SIGKILLs itself
 * at one file-system call (before it, after it, or halfway through a write). The parent then
 * reopens the directory and checks that what it finds is exactly the state after some prefix of
 * the workload, at least as long as the last prefix the child saw acknowledged.
 *
 * A SIGKILL keeps the page cache, so these tests cover process crashes; power-loss shapes (torn
 * records, flipped bits, lost renames) are made by editing files in recovery.test.ts.
 */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { FileStorage } from '../../../src/raft/storage/index.js';
import { recordingLogger, tempDir } from './helpers.js';
import { describeState, statesAfterEachOp, workload } from './workload.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const child = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

interface KillPoint {
  name: string;
  op: string;
  when: 'before' | 'after' | 'partial';
  nth: number;
  match: string;
}

const points: KillPoint[] = [
  { name: 'before a journal write', op: 'write', when: 'before', nth: 40, match: '.wal' },
  { name: 'halfway through a journal write (torn record)', op: 'write', when: 'partial', nth: 55, match: '.wal' },
  { name: 'after a journal write, before its fdatasync', op: 'write', when: 'after', nth: 70, match: '.wal' },
  { name: 'after a journal fdatasync, before sync() resolves', op: 'fdatasync', when: 'after', nth: 45, match: '.wal' },
  { name: 'halfway through writing the snapshot temp file', op: 'write', when: 'partial', nth: 3, match: 'snapshot.tmp' },
  { name: 'after the snapshot temp fdatasync, before the rename', op: 'fdatasync', when: 'after', nth: 4, match: 'snapshot.tmp' },
  { name: 'after the snapshot rename, before the directory fsync', op: 'rename', when: 'after', nth: 5, match: 'snapshot.tmp' },
  { name: 'after the directory fsync, before the journal snapshot record', op: 'fsync', when: 'after', nth: 9, match: '' },
  { name: 'while deleting segments a snapshot covers', op: 'unlink', when: 'after', nth: 2, match: '.wal' },
  { name: 'right after creating a new segment file', op: 'open', when: 'after', nth: 6, match: '.wal' },
];

function runChild(dir: string, seed: number, p: KillPoint): Promise<{ acked: number; signal: string | null; out: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, String(seed), p.op, p.when, String(p.nth), p.match], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      if (code !== null && code !== 0) return reject(new Error(`crash child exited ${code}: ${err}`));
      const acks = [...out.matchAll(/^ACK (\d+)$/gm)].map((m) => Number(m[1]));
      resolve({ acked: acks.length > 0 ? acks[acks.length - 1]! : -1, signal, out });
    });
  });
}

describe('FileStorage survives a kill at any point', () => {
  const expected = new Map<number, string[]>();
  before(async () => {
    for (let i = 0; i < points.length; i++) expected.set(i + 1, await statesAfterEachOp(workload(i + 1, 400)));
  });

  points.forEach((p, i) => {
    const seed = i + 1;
    it(`keeps every acknowledged write when killed ${p.name}`, async () => {
      const t = tempDir();
      cleanups.push(t.remove);
      const run = await runChild(t.dir, seed, p);
      assert.equal(run.signal, 'SIGKILL', `the kill point was reached (child output ends: ${run.out.slice(-40)})`);

      const logger = recordingLogger();
      const storage = new FileStorage(t.dir, logger);
      const loaded = await storage.load();
      const found = describeState(loaded);
      const states = expected.get(seed)!;
      const prefix = states.findIndex((s, k) => k >= run.acked && s === found);
      assert.ok(
        prefix >= 0,
        `state after restart is no prefix of the workload at or after op ${run.acked}\n` +
          `found: ${found.slice(0, 300)}\nacked: ${states[run.acked]?.slice(0, 300)}\n` +
          logger.lines.map((l) => l.message).join('\n'),
      );
      if (process.env.HACTL_CRASH_VERBOSE) console.log(`${p.name}: acked op ${run.acked}, found op ${prefix}`);
      assert.deepEqual(logger.at('error'), [], 'a crash never looks like corruption in the middle of the log');
      assert.equal(existsSync(join(t.dir, 'snapshot.tmp')), false);

      // The repaired directory takes new writes and gives them back cleanly.
      const next = (loaded.entries.at(-1)?.index ?? loaded.snapshot?.meta.index ?? 0) + 1;
      storage.append([{ index: next, term: 99, type: 'noop', data: new Uint8Array() }]);
      await storage.close();
      const again = new FileStorage(t.dir, recordingLogger());
      const reloaded = await again.load();
      assert.deepEqual(reloaded.entries.at(-1)?.index, next);
      await again.close();
    });
  });
});

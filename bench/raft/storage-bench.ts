/**
 * Raft storage micro-benchmark: entries/s and syncs/s with fdatasync on, for batches of 1 and
 * 64 entries of 256 B, appended and synced one batch at a time (what the node does per Ready),
 * plus 64 batches of 1 in flight at once (group commit). Runs on a temp dir on the local disk.
 *   node --import tsx bench/raft/storage-bench.ts [seconds per case, default 3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry } from '../../src/raft/core/types.js';
import { FileStorage, nodeFs, type StorageFs } from '../../src/raft/storage/index.js';

const seconds = Number(process.argv[2] ?? 3);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const payload = new Uint8Array(256).fill(0x61);

interface Result {
  name: string;
  entriesPerSecond: number;
  /** sync() calls resolved per second. */
  syncsPerSecond: number;
  /** fdatasync calls per second: below syncsPerSecond when group commit shares them. */
  fdatasyncsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

async function run(name: string, batch: number, concurrency: number): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'hactl-storage-bench-'));
  try {
    let fdatasyncs = 0;
    const countingFs: StorageFs = { ...nodeFs, fdatasync: (fd) => (fdatasyncs++, nodeFs.fdatasync(fd)) };
    const storage = new FileStorage(dir, quiet, { fs: countingFs });
    await storage.load();
    let index = 0;
    let term = 1;
    const latencies: number[] = [];
    let syncs = 0;
    const deadline = performance.now() + seconds * 1000;
    const worker = async () => {
      while (performance.now() < deadline) {
        const entries: Entry[] = [];
        for (let i = 0; i < batch; i++) entries.push({ index: ++index, term, type: 'normal', data: payload });
        storage.append(entries);
        storage.setHardState({ term, vote: 'a:1', commit: index - batch });
        const t0 = performance.now();
        await storage.sync();
        latencies.push(performance.now() - t0);
        syncs++;
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: concurrency }, worker));
    const elapsed = (performance.now() - start) / 1000;
    const synced = fdatasyncs;
    term++;
    await storage.close();
    latencies.sort((a, b) => a - b);
    return {
      name,
      entriesPerSecond: Math.round(index / elapsed),
      syncsPerSecond: Math.round(syncs / elapsed),
      fdatasyncsPerSecond: Math.round(synced / elapsed),
      p50Ms: Number(percentile(latencies, 50).toFixed(2)),
      p99Ms: Number(percentile(latencies, 99).toFixed(2)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [
  await run('batch of 1, sequential', 1, 1),
  await run('batch of 64, sequential', 64, 1),
  await run('batch of 1, 64 concurrent (group commit)', 1, 64),
];
console.log(`node ${process.version}, ${seconds} s per case, 256 B entries, fdatasync on, dir ${tmpdir()}`);
console.table(results);

/**
 * Runs a storage workload and SIGKILLs itself at a chosen file-system call, for the crash tests:
 *   node --import tsx test/raft/storage/crash-child.ts DIR SEED OP WHEN N MATCH
 * OP is a StorageFs method, WHEN is before | after | partial (write half, then die), N the
 * 1-based count of OP calls on paths containing MATCH. Prints "ACK i" once op i and every op
 * before it are durable (sync or saveSnapshot resolved).
 */
import { writeSync } from 'node:fs';
import { FileStorage, nodeFs, type StorageFs } from '../../../src/raft/storage/index.js';
import { workload } from './workload.js';

const [dir, seedArg, killOp, when, nthArg, match] = process.argv.slice(2);
if (!dir || !seedArg || !killOp || !when || !nthArg || match === undefined) {
  throw new Error('usage: crash-child.ts DIR SEED OP WHEN N MATCH');
}
const nth = Number(nthArg);
let calls = 0;

function die(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

const paths = new Map<number, string>();
function wrap<K extends keyof StorageFs>(name: K): StorageFs[K] {
  const real = nodeFs[name] as (...args: unknown[]) => Promise<unknown>;
  return (async (...args: unknown[]) => {
    const path = typeof args[0] === 'number' ? (paths.get(args[0]) ?? '') : String(args[0]);
    const hit = name === killOp && path.includes(match) && ++calls === nth;
    if (hit && when === 'before') die();
    if (hit && when === 'partial' && name === 'write') {
      const [fd, data, offset, length, position] = args as [number, Buffer, number, number, number];
      await nodeFs.write(fd, data, offset, Math.max(1, Math.floor(length / 2)), position);
      die();
    }
    const result = await real(...args);
    if (name === 'open') paths.set(result as number, String(args[0]));
    if (hit) die();
    return result;
  }) as StorageFs[K];
}

const faultFs = Object.fromEntries(Object.keys(nodeFs).map((k) => [k, wrap(k as keyof StorageFs)])) as unknown as StorageFs;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const storage = new FileStorage(dir, quiet, { fs: faultFs, segmentBytes: 4096 });
await storage.load();
const ops = workload(Number(seedArg), 400);
for (let i = 0; i < ops.length; i++) {
  const op = ops[i]!;
  if (op.kind === 'append') storage.append(op.entries);
  else if (op.kind === 'hardState') storage.setHardState(op.hardState);
  else {
    if (op.kind === 'sync') await storage.sync();
    else await storage.saveSnapshot(op.snapshot);
    writeSync(1, `ACK ${i}\n`);
  }
}
await storage.close();
writeSync(1, 'DONE\n');

/**
 * The ten-minute Jepsen-style run (test/raft/process/jepsen.ts) on five real `hactl raft node`
 * processes: kill -9, SIGSTOP/SIGCONT, EIO from a member's storage (the hidden --test-eio-file
 * switch), a lease holder suspended past its ttl, partitions between network namespaces and a full
 * tmpfs under a member's data directory (the last two need root). Prints the report as JSON; the
 * figures go into bench/RESULTS.md. Needs `npm run build` first.
 *
 *   node --import tsx bench/raft/jepsen.ts [--minutes 10] [--seed N]
 */
import { parseArgs } from 'node:util';
import { runJepsen } from '../../test/raft/process/jepsen.js';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, seed: { type: 'string' } } });
const seed = Number(values.seed ?? Math.floor(Math.random() * 1e9));
const minutes = Number(values.minutes);
if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got ${values.minutes}`);
const started = Date.now();
const report = await runJepsen({
  seed,
  durationMs: minutes * 60_000,
  clients: 4,
  holders: 3,
  // ~25 operations a second over 12 keys: a few thousand per key, which the checker searches in seconds.
  keys: 12,
  thinkMs: 150,
  partitions: true,
  diskFull: true,
  eio: true,
  holderSuspend: true,
  log: (line) => console.error(`${new Date().toISOString()} ${line}`),
});
console.log(JSON.stringify({ ...report, wallSeconds: Math.round((Date.now() - started) / 1000) }, null, 2));
process.exitCode = report.anomalies === 0 && report.refusedRestarts === 0 && report.finalLeader ? 0 : 1;

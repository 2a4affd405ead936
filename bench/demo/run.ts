// `hactl demo` start-up benchmark (issue 6): wall time from spawning `hactl demo` to its
// "Cluster ready" line (one leader, N−1 members streaming per the leader's GET /patroni — the
// Patroni reference's streaming_ready), over several runs, plus where the time goes, read from the
// agents' log timestamps. Needs `npm run build`.
//   node --import tsx bench/demo/run.ts [runs=5] [nodes=3]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const runs = Number(process.argv[2] ?? 5);
const nodes = Number(process.argv[3] ?? 3);

/** Epoch ms of a Patroni-style log line (`2026-11-25 21:59:22,265 INFO: …`, local time). */
function lineMs(line: string): number | null {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d),(\d{3}) /.exec(line);
  if (!m) return null;
  const [y, mo, d, h, mi, s, ms] = m.slice(1).map(Number) as [number, number, number, number, number, number, number];
  return new Date(y, mo - 1, d, h, mi, s, ms).getTime();
}

/** The earliest line matching `re` (the lines of several logs, in any order). */
function firstMs(lines: string[], re: RegExp): number | null {
  let best: number | null = null;
  for (const l of lines) {
    const ms = re.test(l) ? lineMs(l) : null;
    if (ms !== null && (best === null || ms < best)) best = ms;
  }
  return best;
}

interface Run {
  readyMs: number;
  totalMs: number;
  phases: Record<string, number | null>;
}

async function once(): Promise<Run> {
  // Empty and ours: the demo hands it to the postgres user (its parent /tmp is traversable).
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hactl-bench-demo-'));
  const t0 = Date.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'run.js'), 'demo', '--exit-after-ready', '--keep', '--nodes', String(nodes), '--dir', dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let out = '';
  let readyAt = 0;
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    if (!readyAt && out.includes('Cluster ready')) readyAt = Date.now();
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const totalMs = Date.now() - t0;
  if (code !== 0 || !readyAt) throw new Error(`demo failed (exit ${code}):\n${out}`);
  const logs = Array.from({ length: nodes }, (_, i) => readFileSync(path.join(dir, `node${i + 1}`, 'agent.log'), 'utf8').split('\n'));
  const all = logs.flat();
  const rel = (ms: number | null) => (ms === null ? null : ms - t0);
  const phases = {
    agentFirstLogMs: rel(Math.min(...logs.map((l) => lineMs(l[0] ?? '') ?? Infinity))),
    raftLeaderMs: rel(firstMs(all, /raft: became leader/)),
    bootstrapStartMs: rel(firstMs(all, /trying to bootstrap a new cluster/)),
    initializedMs: rel(firstMs(all, /initialized a new cluster/)),
    cloneStartMs: rel(firstMs(all, /trying to bootstrap from leader/)),
    lastReplicaCreatedMs: rel(Math.max(...logs.map((l) => firstMs(l, /replica created from/) ?? -Infinity))),
  };
  rmSync(dir, { recursive: true, force: true });
  return { readyMs: readyAt - t0, totalMs, phases };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results: Run[] = [];
for (let i = 0; i < runs; i++) {
  const r = await once();
  results.push(r);
  process.stdout.write(`run ${i + 1}: ready ${(r.readyMs / 1000).toFixed(2)} s ${JSON.stringify(r.phases)} load ${os.loadavg()[0]!.toFixed(1)}\n`);
}
const ready = results.map((r) => r.readyMs);
const phaseNames = Object.keys(results[0]!.phases);
process.stdout.write(`\nnodes ${nodes}, runs ${runs}: ready median ${(median(ready) / 1000).toFixed(2)} s (min ${(Math.min(...ready) / 1000).toFixed(2)}, max ${(Math.max(...ready) / 1000).toFixed(2)})\n`);
for (const p of phaseNames) {
  const xs = results.map((r) => r.phases[p]).filter((x): x is number => x !== null);
  process.stdout.write(`  ${p}: median ${median(xs)} ms\n`);
}

/**
 * Raft store benchmark (issue 2): three `hactl raft node` processes on loopback, fsync on (each
 * has a data dir), password set (authenticated + encrypted frames, as in production).
 *
 *   npm run build && npm run bench:raft [-- --seconds 5 --trials 20 --no-pysyncobj --no-password]
 *
 * Measures, against the leader: writes/s and commit latency (request sent → result received, i.e.
 * fsynced on a majority and applied on the leader) for 1 sequential client and for 64 concurrent
 * clients (one connection each, 256-byte values); time from kill -9 of the leader until a survivor
 * reports a new leader (polled every 10 ms with the admin `status` request, like the pysyncobj
 * harness); leadership transfer time. Then the same workload on pysyncobj through
 * ../shared/anchors/patroni/raft_bench.py (Patroni's settings, journal files) for a ratio.
 * Prints JSON and a Markdown table for bench/RESULTS.md.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { connectRpc, type RpcClient } from '../../src/raft/transport/index.js';
import { unwrapReply } from '../../src/raft/node/rpc.js';
import { RaftCluster, REPO } from '../../test/raft/process/cluster.js';
import { freePort } from '../../test/helpers/net.js';
import { sleep, waitUntil } from '../../test/helpers/wait.js';

interface Args {
  seconds: number;
  trials: number;
  concurrency: number;
  pysyncobj: boolean;
  password: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 5, trials: 20, concurrency: 64, pysyncobj: true, password: true };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--seconds') a.seconds = Number(argv[++i]);
    else if (k === '--trials') a.trials = Number(argv[++i]);
    else if (k === '--concurrency') a.concurrency = Number(argv[++i]);
    else if (k === '--no-pysyncobj') a.pysyncobj = false;
    else if (k === '--no-password') a.password = false;
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;

interface WriteFigures {
  clients: number;
  writes: number;
  seconds: number;
  writesPerS: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
}

const VALUE = 'v'.repeat(256);

async function writeLoad(leader: string, password: string | null, clients: number, seconds: number): Promise<WriteFigures> {
  // A few at a time: the Raft port admits at most MAX_HANDSHAKING_PER_ADDRESS (8) connections from one
  // address in the handshake at once and resets the rest (src/raft/transport/admission.ts).
  const conns: RpcClient[] = [];
  while (conns.length < clients) {
    const wave = Math.min(4, clients - conns.length);
    conns.push(...(await Promise.all(Array.from({ length: wave }, () => connectRpc(leader, { password, timeoutMs: 5_000 })))));
  }
  const latencies: number[] = [];
  let errors = 0;
  // Warm-up: one write per connection (JIT, connection setup on the server).
  await Promise.all(conns.map((c, i) => c.request({ kind: 'kv', op: 'write', clientId: `warm-${i}-${process.pid}`, seq: 1, command: { op: 'set', key: `/bench/warm/${i}`, value: VALUE } })));
  const started = performance.now();
  const stopAt = started + seconds * 1000;
  await Promise.all(
    conns.map(async (c, i) => {
      const clientId = `bench-${clients}-${i}-${process.pid}`;
      let seq = 0;
      while (performance.now() < stopAt) {
        const t = performance.now();
        try {
          const reply = unwrapReply(await c.request({ kind: 'kv', op: 'write', clientId, seq: ++seq, timeoutMs: 5_000, command: { op: 'set', key: `/bench/${i}/${seq % 100}`, value: VALUE } }, 6_000));
          if ((reply.result as { ok: boolean }).ok) latencies.push(performance.now() - t);
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  for (const c of conns) c.close();
  latencies.sort((a, b) => a - b);
  return {
    clients,
    writes: latencies.length,
    seconds: r2(elapsed),
    writesPerS: r1(latencies.length / elapsed),
    p50Ms: r2(pct(latencies, 0.5)),
    p99Ms: r2(pct(latencies, 0.99)),
    maxMs: r2(latencies[latencies.length - 1] ?? NaN),
    errors,
  };
}

async function electionTrials(cluster: RaftCluster, trials: number): Promise<{ trials: number[]; p50: number; p99: number; max: number; termJumps: number[] }> {
  const out: number[] = [];
  const termJumps: number[] = [];
  for (let t = 0; t < trials; t++) {
    const leader = await cluster.waitForLeader({ timeoutMs: 20_000 });
    const survivors = cluster.addrs.filter((a) => a !== leader);
    // Let the restarted member catch up and every link settle, as the pysyncobj harness does.
    await sleep(1_500);
    const termBefore = (await cluster.status(survivors[0]!))?.raft_term ?? 0;
    const killedAt = performance.now();
    cluster.proc(leader).signal('SIGKILL');
    let seenAt = 0;
    let termAfter = termBefore;
    while (performance.now() - killedAt < 30_000) {
      const statuses = await Promise.all(survivors.map((a) => cluster.status(a, 200)));
      const s = statuses.find((x) => x && x.leader && x.leader !== leader);
      if (s) {
        seenAt = performance.now();
        termAfter = s.raft_term;
        break;
      }
      await sleep(10);
    }
    out.push(seenAt ? Math.round(seenAt - killedAt) : NaN);
    termJumps.push(termAfter - termBefore);
    await cluster.proc(leader).exited;
    cluster.startNode(leader, cluster.addrs);
    await waitUntil(async () => (await cluster.status(leader))?.leader, { timeoutMs: 15_000, what: `${leader} to rejoin` });
    process.stderr.write(`election trial ${t + 1}/${trials}: ${out[out.length - 1]} ms (term +${termJumps[termJumps.length - 1]})\n`);
  }
  const sorted = out.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return { trials: out, p50: pct(sorted, 0.5), p99: pct(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN, termJumps };
}

async function transferTrials(cluster: RaftCluster, trials: number): Promise<{ trials: number[]; p50: number; p99: number; max: number }> {
  const out: number[] = [];
  for (let t = 0; t < trials; t++) {
    const leader = await cluster.waitForLeader();
    const target = cluster.addrs[(cluster.addrs.indexOf(leader) + 1) % cluster.addrs.length]!;
    const admin = await cluster.admin(leader);
    try {
      const started = performance.now();
      const r = await admin.transfer(target, 5_000);
      const clientMs = performance.now() - started;
      out.push(r.elapsedMs);
      process.stderr.write(`transfer trial ${t + 1}/${trials}: ${r.elapsedMs} ms on the leader, ${Math.round(clientMs)} ms for the admin client\n`);
    } finally {
      admin.close();
    }
    await sleep(300);
  }
  const sorted = [...out].sort((a, b) => a - b);
  return { trials: out, p50: pct(sorted, 0.5), p99: pct(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN };
}

function runPy(script: string, args: string[], timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/python3', [script, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${path.basename(script)} ${args.join(' ')} failed: ${err.message}\n${stderr.slice(-2000)}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!));
      } catch {
        reject(new Error(`unexpected output from raft_bench.py: ${stdout.slice(-500)}`));
      }
    });
  });
}

async function pysyncobjFigures(a: Args): Promise<Record<string, unknown> | { skipped: string }> {
  // /work/shared beside the main checkout, or two levels up from a worktree in /work/wt/<name>.
  const candidates = [path.resolve(REPO, '..', 'shared'), path.resolve(REPO, '..', '..', 'shared')].map((d) => path.join(d, 'anchors', 'patroni', 'raft_bench.py'));
  const script = candidates.find((c) => existsSync(c));
  if (script === undefined) return { skipped: `raft_bench.py not found (looked at ${candidates.join(', ')})` };
  const probe = await new Promise<boolean>((resolve) => execFile('/usr/bin/python3', ['-c', 'import pysyncobj'], (err) => resolve(!err)));
  if (!probe) return { skipped: 'pysyncobj not installed (apt-get install -y python3-pysyncobj)' };
  const base = await freePort();
  const journal = await mkdtemp(path.join(os.tmpdir(), 'pysyncobj-bench-'));
  try {
    const common = ['--base', String(base), '--patroni-like'];
    process.stderr.write('pysyncobj: throughput (Patroni-like, journal files) ...\n');
    const throughput = await runPy(script, ['throughput', ...common, '--journal-dir', journal, '--client-role', 'leader', '--seconds', String(a.seconds), '--window', String(a.concurrency)], 180_000);
    process.stderr.write(`pysyncobj: election, ${a.trials} reps ...\n`);
    const election = (await runPy(script, ['election', ...common, '--journal-dir', journal, '--reps', String(a.trials), '--settle', '1.5'], 600_000)) as { election: { kill_to_new_leader_s: number | null }[] };
    const secs = election.election.map((e) => e.kill_to_new_leader_s).filter((x): x is number => x !== null).sort((x, y) => x - y);
    return {
      throughput,
      election: { trialsS: election.election.map((e) => e.kill_to_new_leader_s), p50Ms: Math.round(pct(secs, 0.5) * 1000), p99Ms: Math.round(pct(secs, 0.99) * 1000), maxMs: Math.round((secs[secs.length - 1] ?? NaN) * 1000) },
    };
  } finally {
    await rm(journal, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const password = a.password ? 'bench-secret' : null;
  const cluster = await RaftCluster.start({ size: 3, password, logLevel: 'warn' });
  const result: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`,
    config: { members: 3, fsync: true, password: a.password, valueBytes: 256, seconds: a.seconds },
  };
  try {
    const leader = await cluster.waitForLeader({ timeoutMs: 20_000 });
    process.stderr.write(`leader ${leader}; 1 client for ${a.seconds} s ...\n`);
    result.sequential = await writeLoad(leader, password, 1, a.seconds);
    process.stderr.write(`${a.concurrency} clients for ${a.seconds} s ...\n`);
    result.concurrent = await writeLoad(leader, password, a.concurrency, a.seconds);
    process.stderr.write('leadership transfer ...\n');
    result.transfer = await transferTrials(cluster, a.trials);
    process.stderr.write('kill -9 of the leader ...\n');
    result.election = await electionTrials(cluster, a.trials);
  } finally {
    await cluster.destroy();
  }
  if (a.pysyncobj) {
    try {
      result.pysyncobj = await pysyncobjFigures(a);
    } catch (err) {
      result.pysyncobj = { skipped: (err as Error).message };
    }
  } else {
    result.pysyncobj = { skipped: '--no-pysyncobj' };
  }
  console.log(JSON.stringify(result, null, 2));
  console.log(markdown(result));
}

function markdown(r: Record<string, unknown>): string {
  const seq = r.sequential as WriteFigures;
  const con = r.concurrent as WriteFigures;
  const el = r.election as { p50: number; p99: number; max: number };
  const tr = r.transfer as { p50: number; p99: number; max: number };
  const py = r.pysyncobj as { throughput?: { sequential: { ops_per_s: number; lat_ms_p50: number; lat_ms_p99: number }; pipelined: { ops_per_s: number; window: number } }; election?: { p50Ms: number; p99Ms: number; maxMs: number }; skipped?: string };
  const ratio = (x: number, y: number | undefined) => (y ? `${r1(x / y)}×` : 'n/a');
  const lines = [
    '| measure | hactl | target | pysyncobj (same run) | ratio |',
    '|---|---|---|---|---|',
    `| 1 client: writes/s | ${seq.writesPerS} | ≥ 500 | ${py.throughput?.sequential.ops_per_s ?? 'skipped'} | ${ratio(seq.writesPerS, py.throughput?.sequential.ops_per_s)} |`,
    `| 1 client: p50 / p99 commit latency | ${seq.p50Ms} / ${seq.p99Ms} ms | p99 ≤ 10 ms | ${py.throughput ? `${py.throughput.sequential.lat_ms_p50} / ${py.throughput.sequential.lat_ms_p99} ms` : 'skipped'} | |`,
    `| ${con.clients} clients: writes/s | ${con.writesPerS} | ≥ 7,500 | ${py.throughput ? `${py.throughput.pipelined.ops_per_s} (window ${py.throughput.pipelined.window})` : 'skipped'} | ${ratio(con.writesPerS, py.throughput?.pipelined.ops_per_s)} |`,
    `| ${con.clients} clients: p50 / p99 commit latency | ${con.p50Ms} / ${con.p99Ms} ms | p99 ≤ 30 ms | not measured by the harness | |`,
    `| kill -9 leader → new leader p50 / p99 (max) | ${el.p50} / ${el.p99} (${el.max}) ms | ≤ 1,000 / ≤ 2,000 ms | ${py.election ? `${py.election.p50Ms} / ${py.election.p99Ms} (${py.election.maxMs}) ms` : 'skipped'} | |`,
    `| leadership transfer p50 / p99 (max) | ${tr.p50} / ${tr.p99} (${tr.max}) ms | p99 ≤ 200 ms | no transfer in pysyncobj 0.3.11 | |`,
  ];
  if (py.skipped) lines.push('', `pysyncobj part skipped: ${py.skipped}`);
  return lines.join('\n');
}

await main();

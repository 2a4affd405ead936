/**
 * Synchronous-mode benchmark (issue 7). Three `hactl agent` processes with real PostgreSQL 15 on
 * 127.0.0.1 (the e2e fixtures, fsync and synchronous_commit on), once per mode:
 *   perf      pgbench (TPC-B-like, scale 10) with 4 clients for 30 s on the primary: tps and latency
 *             in async (synchronous_mode false), sync (true) and quorum mode, on one cluster switched
 *             with PATCH /config, the modes interleaved over `--rounds` rounds
 *   failover  ≥ 20 forced failovers (kill -9 of the primary's agent and postmaster) while a writer
 *             commits one row every 20 ms through the multi-host read-write walk and 2 pgbench
 *             clients load the primary (so replicas are a little behind, as on a busy primary);
 *             after each, acknowledged ids missing on the new primary are counted (sync vs async)
 *
 *   npm run build && node --import tsx bench/sync/run.ts [--seconds 30] [--clients 4] [--rounds 2] [--modes async,sync,quorum]
 *                                                       [--failovers 20] [--failover-modes sync,async]
 *
 * Prints per-trial lines to stderr, then JSON and a Markdown table (raw JSON also to /tmp/hactl-bench-sync.json).
 */
import { execFile } from 'node:child_process';
import { promises as fs, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { sql, TestCluster } from '../../test/helpers/cluster.js';
import { sleep, waitUntil } from '../../test/helpers/wait.js';
import { Writer, writerTargets, type Ack } from '../../test/helpers/writer.js';

const execFileAsync = promisify(execFile);
const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';
type Mode = 'async' | 'sync' | 'quorum';

interface Args {
  seconds: number;
  clients: number;
  failovers: number;
  modes: Mode[];
  failoverModes: Mode[];
  /** Interleaved pgbench rounds over the modes. */
  rounds: number;
}

function modeList(text: string): Mode[] {
  const modes = text.split(',').filter((m) => m !== '');
  for (const m of modes) if (m !== 'async' && m !== 'sync' && m !== 'quorum') throw new Error(`unknown mode ${m} (async, sync, quorum)`);
  return modes as Mode[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 30, clients: 4, failovers: 20, modes: ['async', 'sync', 'quorum'], failoverModes: ['sync', 'async'], rounds: 2 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seconds') a.seconds = Number(argv[++i]);
    else if (argv[i] === '--clients') a.clients = Number(argv[++i]);
    else if (argv[i] === '--failovers') a.failovers = Number(argv[++i]);
    else if (argv[i] === '--rounds') a.rounds = Number(argv[++i]);
    else if (argv[i] === '--modes') a.modes = modeList(argv[++i]!);
    else if (argv[i] === '--failover-modes') a.failoverModes = modeList(argv[++i]!);
  }
  return a;
}

const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
const modeValue = (mode: Mode) => (mode === 'async' ? 'false' : mode === 'sync' ? 'true' : 'quorum');

async function startCluster(mode: Mode): Promise<{ cluster: TestCluster; leader: string }> {
  const cluster = await TestCluster.create({ size: 3, scope: `bench-sync-${mode}-${process.pid}` });
  for (const node of cluster.nodes) {
    const yaml = (await fs.readFile(node.configPath, 'utf8'))
      .replace("fsync: 'off'", "fsync: 'on'")
      .replace("synchronous_commit: 'off'", "synchronous_commit: 'on'")
      .replace(/(\n {4}maximum_lag_on_failover: \d+\n)/, `$1    synchronous_mode: ${modeValue(mode)}\n`);
    if (!yaml.includes(`synchronous_mode: ${modeValue(mode)}`)) throw new Error('config template changed: cannot set synchronous_mode');
    await fs.writeFile(node.configPath, yaml, { mode: 0o600 });
  }
  cluster.startAll();
  const leader = await cluster.waitForHealthy(undefined, 180_000);
  if (mode !== 'async') await waitForSyncKey(cluster, leader, mode);
  return { cluster, leader };
}

/** The leader lists at least one synchronous/quorum standby in /cluster (the `sync` key). */
async function waitForSyncKey(cluster: TestCluster, leader: string, mode: Mode): Promise<void> {
  const node = cluster.node(leader);
  const role = mode === 'quorum' ? 'quorum_standby' : 'sync_standby';
  await waitUntil(
    async () => {
      const body = (await (await fetch(`http://${node.host}:${node.apiPort}/cluster`, { signal: AbortSignal.timeout(2000) })).json()) as { members: { role: string }[] };
      return body.members.some((m) => m.role === role) ? true : null;
    },
    { timeoutMs: 60_000, intervalMs: 200, what: `a ${role} on ${leader}` },
  );
}

async function pgbench(host: string, port: number, args: string[], timeoutMs: number): Promise<string> {
  const { stdout } = await execFileAsync(PGBENCH, ['-h', host, '-p', String(port), '-U', 'postgres', ...args, 'postgres'], {
    timeout: timeoutMs,
    maxBuffer: 16 << 20,
    env: { ...process.env, PGCONNECT_TIMEOUT: '3' },
  });
  return stdout;
}

interface Perf {
  mode: Mode;
  round: number;
  tps: number;
  latencyAvgMs: number;
  transactions: number;
  ssn: string;
}

/** Switches the running cluster's mode (PATCH /config) and waits until the leader's setting shows it. */
async function setMode(cluster: TestCluster, leader: string, mode: Mode): Promise<string> {
  const node = cluster.node(leader);
  const value = mode === 'async' ? false : mode === 'sync' ? true : 'quorum';
  const res = await fetch(`http://${node.host}:${node.apiPort}/config`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ synchronous_mode: value }) });
  if (res.status !== 200) throw new Error(`PATCH /config: ${res.status} ${await res.text()}`);
  const prefix = mode === 'async' ? '' : mode === 'sync' ? 'FIRST' : 'ANY';
  const found = await waitUntil(
    async () => {
      const ssn = (await sql<{ s: string }>(node, "SELECT current_setting('synchronous_standby_names') AS s"))[0]!.s;
      return (mode === 'async' ? ssn === '' : ssn.startsWith(prefix)) ? { ssn } : null;
    },
    { timeoutMs: 30_000, what: `synchronous_standby_names for ${mode}` },
  );
  return found.ssn;
}

async function perf(mode: Mode, round: number, cluster: TestCluster, leader: string, args: Args): Promise<Perf> {
  const node = cluster.node(leader);
  const ssn = await setMode(cluster, leader, mode);
  if (mode !== 'async') await waitForSyncKey(cluster, leader, mode);
  await sql(node, 'CHECKPOINT');
  const out = await pgbench(node.host, node.pgPort, ['-c', String(args.clients), '-j', String(Math.min(args.clients, 2)), '-T', String(args.seconds), '-n'], (args.seconds + 120) * 1000);
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : null;
  };
  const result: Perf = {
    mode,
    round,
    tps: num(/tps = ([\d.]+) \(without initial connection time\)/) ?? NaN,
    latencyAvgMs: num(/latency average = ([\d.]+) ms/) ?? NaN,
    transactions: num(/number of transactions actually processed: (\d+)/) ?? NaN,
    ssn,
  };
  log(`perf ${mode} round ${round}: ${JSON.stringify(result)}`);
  return result;
}

interface FailoverResult {
  mode: Mode;
  trials: number;
  acked: number;
  /** Distinct acknowledged ids missing on a new primary after some failover. */
  lost: number;
  lostPerTrial: number[];
  failoverMs: number[];
}

async function failovers(mode: Mode, cluster: TestCluster, first: string, args: Args): Promise<FailoverResult> {
  let leader = first;
  const writer = new Writer({ mode: 'multi-host', targets: writerTargets(cluster.nodes.map((n) => ({ name: n.name, pgPort: n.pgPort }))), intervalMs: 20, connectTimeoutMs: 1000, statementTimeoutMs: 120_000 });
  await writer.ensureTable();
  writer.start();
  const lost = new Set<string>();
  const lostPerTrial: number[] = [];
  const failoverMs: number[] = [];
  try {
    for (let trial = 1; trial <= args.failovers; trial++) {
      await cluster.waitForHealthy(undefined, 120_000);
      if (mode !== 'async') await waitForSyncKey(cluster, leader, mode);
      const n0 = writer.acks.length;
      await waitUntil(() => writer.acks.length >= n0 + 25, { timeoutMs: 30_000, what: 'writes before the kill' });
      const node = cluster.node(leader);
      // Background load so the replicas trail the primary a little at the moment of the kill.
      const load = pgbench(node.host, node.pgPort, ['-c', '2', '-j', '1', '-T', '4', '-n'], 20_000).catch(() => '');
      await sleep(1500);
      const old = leader;
      const t0 = Date.now();
      await cluster.killHard(old);
      const others = cluster.nodes.map((n) => n.name).filter((n) => n !== old);
      leader = await cluster.waitForHealthy(others, 120_000);
      await waitUntil(() => writer.acks.some((a) => a.member === leader && a.ackedAtMs > t0), { timeoutMs: 60_000, what: `acks on ${leader}` });
      failoverMs.push(writer.acks.find((a) => a.member === leader && a.ackedAtMs > t0)!.ackedAtMs - t0);
      await load;
      const acks: Ack[] = [...writer.acks];
      const rows = await writer.finalRows({ name: leader, host: cluster.node(leader).host, port: cluster.node(leader).pgPort });
      const present = new Set(rows.map((r) => `${r.member}/${r.id}`));
      const missing = acks.filter((a) => !present.has(`${a.member}/${a.id}`));
      for (const a of missing) lost.add(`${a.member}/${a.id}`);
      lostPerTrial.push(missing.length);
      log(`failover ${mode} #${trial}: ${old} -> ${leader}, first new commit after ${failoverMs.at(-1)} ms, acked so far ${acks.length}, missing ${missing.length}`);
      cluster.startAgent(old);
    }
    await cluster.waitForHealthy(undefined, 120_000);
  } finally {
    await writer.stop();
  }
  return { mode, trials: lostPerTrial.length, acked: writer.acks.length, lost: lost.size, lostPerTrial, failoverMs };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const perfs: Perf[] = [];
  const losses: FailoverResult[] = [];
  if (args.modes.length > 0) {
    // One warm cluster for every mode, switched with PATCH /config and interleaved over the rounds,
    // so a noisy neighbour or a checkpoint hits every mode alike.
    const { cluster, leader } = await startCluster('sync');
    try {
      const node = cluster.node(leader);
      await pgbench(node.host, node.pgPort, ['-i', '-s', '10', '-q'], 300_000);
      for (let round = 1; round <= args.rounds; round++) {
        for (const mode of args.modes) perfs.push(await perf(mode, round, cluster, leader, args));
      }
    } finally {
      await cluster.destroy();
    }
  }
  for (const mode of args.failoverModes) {
    if (args.failovers <= 0) break;
    const { cluster, leader } = await startCluster(mode);
    try {
      losses.push(await failovers(mode, cluster, leader, args));
    } finally {
      await cluster.destroy();
    }
  }
  const result = { date: new Date().toISOString(), args, perfs, losses };
  writeFileSync('/tmp/hactl-bench-sync.json', JSON.stringify(result, null, 2));
  process.stdout.write(`${JSON.stringify(result)}\n\n`);
  process.stdout.write('| mode | synchronous_standby_names | tps per round | latency avg ms per round |\n|---|---|---:|---:|\n');
  for (const mode of args.modes) {
    const runs = perfs.filter((p) => p.mode === mode);
    process.stdout.write(`| ${mode} | \`${runs[0]?.ssn || "''"}\` | ${runs.map((p) => p.tps.toFixed(0)).join(' / ')} | ${runs.map((p) => p.latencyAvgMs.toFixed(2)).join(' / ')} |\n`);
  }
  process.stdout.write('\n| mode | forced failovers | acknowledged commits | acked commits lost | first commit on new primary, median (max) ms |\n|---|---:|---:|---:|---:|\n');
  for (const l of losses) process.stdout.write(`| ${l.mode} | ${l.trials} | ${l.acked} | ${l.lost} | ${median(l.failoverMs).toFixed(0)} (${Math.max(...l.failoverMs)}) |\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

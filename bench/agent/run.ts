/**
 * Agent benchmark (issue 4): three `hactl agent` processes with real PostgreSQL on 127.0.0.1 and a
 * writer committing one row every 20 ms through the multi-host, read-write connection walk
 * (test/helpers/writer.ts, the twin of ../shared/anchors/patroni/writer.py), measured the way the
 * Patroni anchor scripts measure (04_failover.sh, 05_graceful.sh, 06_switchover.sh, 08_resources.sh,
 * 03_rest.sh):
 *   kill10 / kill30  kill -9 of the leader's agent and postmaster → first commit on the new primary,
 *                    at ttl 10 / loop_wait 2 / retry_timeout 3 and at ttl 30 / loop_wait 10 / retry_timeout 10
 *   sigterm          SIGTERM of the leader's agent → first commit on the new primary (write gap)
 *   switchover       `hactl switchover --force --candidate X` (cold CLI, like patronictl) and POST /switchover:
 *                    command wall time and write gap
 *   resources        VmRSS/VmHWM and CPU seconds (utime+stime) of each agent over 60 idle seconds (ttl 10 / loop_wait 2)
 *   resources30      the same at ttl 30 / loop_wait 10 / retry_timeout 10, the anchor's settings (not in the default set)
 *   rest             wrk -t2 -c10 -d10s --latency on the leader's GET /primary and GET /patroni (3 runs each)
 * Acknowledged commits missing from the final primary are counted in every writer trial.
 * PostgreSQL runs with fsync and synchronous_commit on (the e2e fixture turns them off).
 *
 *   npm run build && node --import tsx bench/agent/run.ts [--trials 5] [--idle 60] [--phases kill10,sigterm,switchover,resources,rest,kill30,resources30]
 *
 * Prints per-trial lines, then JSON and Markdown for bench/RESULTS.md (raw JSON also to /tmp/hactl-bench-agent.json).
 */
import { execFile, spawnSync } from 'node:child_process';
import { promises as fs, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { BIN, memberStatus, REPO_ROOT, sql, TestCluster, type ClusterTiming } from '../../test/helpers/cluster.js';
import { sleep, waitUntil } from '../../test/helpers/wait.js';
import { analyzeWrites, multiHostConninfo, Writer, writerTargets, type WriteAnalysis } from '../../test/helpers/writer.js';

interface Args {
  trials: number;
  phases: string[];
  idleSeconds: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { trials: 5, phases: ['kill10', 'sigterm', 'switchover', 'resources', 'rest', 'kill30'], idleSeconds: 60 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--trials') a.trials = Number(argv[++i]);
    else if (argv[i] === '--phases') a.phases = argv[++i]!.split(',');
    else if (argv[i] === '--idle') a.idleSeconds = Number(argv[++i]);
  }
  return a;
}

const AGGRESSIVE: ClusterTiming = { ttl: 10, loop_wait: 2, retry_timeout: 3 };
const SEED: ClusterTiming = { ttl: 30, loop_wait: 10, retry_timeout: 10 };

interface Trial {
  phase: string;
  trial: number;
  oldLeader: string;
  newLeader: string | null;
  eventToFirstNewCommitMs: number | null;
  unavailabilityWindowMs: number | null;
  acked: number;
  missingAcked: number;
  splitBrainWindows: number;
  commandMs?: number;
  via?: string;
}

const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

function stats(values: number[]): { median: number; min: number; max: number; n: number } | null {
  if (values.length === 0) return null;
  const s = [...values].sort((x, y) => x - y);
  const mid = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median: mid, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

async function startCluster(timing: ClusterTiming): Promise<{ cluster: TestCluster; leader: string }> {
  const cluster = await TestCluster.create({ size: 3, timing, scope: `bench-${timing.ttl}-${process.pid}` });
  for (const node of cluster.nodes) {
    // Durable commits, as in the Patroni anchor (its clusters kept PostgreSQL's defaults).
    const yaml = (await fs.readFile(node.configPath, 'utf8')).replace("fsync: 'off'", "fsync: 'on'").replace("synchronous_commit: 'off'", "synchronous_commit: 'on'");
    await fs.writeFile(node.configPath, yaml, { mode: 0o600 });
  }
  const t0 = Date.now();
  cluster.startAll();
  const leader = await cluster.waitForHealthy(undefined, 180_000);
  log(`cluster ttl ${timing.ttl}: healthy in ${Date.now() - t0} ms, leader ${leader}`);
  const writer = new Writer({ mode: 'multi-host', targets: writerTargets(cluster.nodes) });
  await writer.ensureTable();
  for (const n of cluster.nodes) {
    await waitUntil(async () => (await sql(n, "SELECT to_regclass('hactl_writes') AS t"))[0]!.t !== null, { timeoutMs: 30_000, what: `table on ${n.name}` });
  }
  return { cluster, leader };
}

/** All three running, one primary, two streaming, and each replica's own /patroni says so. */
async function settled(cluster: TestCluster): Promise<string> {
  const leader = await cluster.waitForHealthy(undefined, 180_000);
  for (const n of cluster.nodes.filter((x) => x.name !== leader)) {
    await waitUntil(async () => (await memberStatus(n))?.replication_state === 'streaming', { timeoutMs: 60_000, what: `${n.name} streaming` });
  }
  return leader;
}

/**
 * One writer trial: write 3 s, run `action` against the leader at t0, wait for the first commit on
 * another member, write 2 s more, analyse, then `recover` the old leader.
 */
async function writerTrial(
  cluster: TestCluster,
  phase: string,
  trial: number,
  action: (leader: string) => Promise<{ commandMs?: number; via?: string } | void>,
  recover: (old: string) => Promise<void>,
): Promise<Trial> {
  const leader = await settled(cluster);
  const writer = new Writer({ mode: 'multi-host', targets: writerTargets(cluster.nodes), intervalMs: 20, run: `${phase}-${trial}-${Date.now()}` });
  writer.start();
  await sleep(3000);
  const t0 = Date.now();
  const extra = (await action(leader)) ?? {};
  await waitUntil(() => writer.acks.some((a) => a.ackedAtMs > t0 && a.member !== leader), { timeoutMs: 180_000, intervalMs: 10, what: 'a commit on a new primary' });
  await sleep(2000);
  await writer.stop();
  const r: WriteAnalysis = analyzeWrites(writer.acks, await writer.finalRows(), { eventAtMs: t0, oldMember: leader });
  const result: Trial = {
    phase,
    trial,
    oldLeader: leader,
    newLeader: r.newMember,
    eventToFirstNewCommitMs: r.eventToFirstNewCommitMs,
    unavailabilityWindowMs: r.unavailabilityWindowMs,
    acked: r.acked,
    missingAcked: r.missingAcked,
    splitBrainWindows: r.splitBrainWindows.length,
    ...extra,
  };
  log(`${phase} #${trial}: ${JSON.stringify(result)}`);
  await recover(leader);
  return result;
}

async function restartAgent(cluster: TestCluster, name: string): Promise<void> {
  cluster.startAgent(name);
  await settled(cluster);
}

async function killTrials(cluster: TestCluster, phase: string, trials: number): Promise<Trial[]> {
  const out: Trial[] = [];
  for (let i = 1; i <= trials; i++) {
    out.push(
      await writerTrial(
        cluster,
        phase,
        i,
        (leader) => cluster.killHard(leader),
        (old) => restartAgent(cluster, old),
      ),
    );
  }
  return out;
}

async function sigtermTrials(cluster: TestCluster, trials: number): Promise<Trial[]> {
  const out: Trial[] = [];
  for (let i = 1; i <= trials; i++) {
    let exited: Promise<number | string> | null = null;
    out.push(
      await writerTrial(
        cluster,
        'sigterm',
        i,
        async (leader) => {
          const proc = cluster.agents.get(leader)!;
          exited = proc.exited;
          proc.signal('SIGTERM');
        },
        async (old) => {
          const code = await exited;
          if (code !== 0) log(`sigterm #${i}: agent exited with ${String(code)}`);
          await restartAgent(cluster, old);
        },
      ),
    );
  }
  return out;
}

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

async function switchoverTrials(cluster: TestCluster, trials: number, via: 'cli' | 'rest'): Promise<Trial[]> {
  const out: Trial[] = [];
  for (let i = 1; i <= trials; i++) {
    out.push(
      await writerTrial(
        cluster,
        `switchover-${via}`,
        i,
        async (leader) => {
          const candidate = cluster.nodes.map((n) => n.name).filter((n) => n !== leader)[i % 2]!;
          const started = performance.now();
          if (via === 'cli') {
            const api = cluster.nodes.map((n) => `http://127.0.0.1:${n.apiPort}`).join(',');
            const r = await runCli(['switchover', '--api', api, '--candidate', candidate, '--force']);
            const commandMs = performance.now() - started;
            if (r.code !== 0) throw new Error(`hactl switchover failed (${r.code}): ${r.stderr || r.stdout}`);
            return { commandMs, via: 'hactl switchover --force' };
          }
          const res = await fetch(`http://127.0.0.1:${cluster.node(leader).apiPort}/switchover`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ leader, candidate }),
          });
          const text = await res.text();
          const commandMs = performance.now() - started;
          if (res.status !== 200) throw new Error(`POST /switchover: ${res.status} ${text}`);
          return { commandMs, via: 'POST /switchover' };
        },
        async () => {
          await settled(cluster);
        },
      ),
    );
  }
  return out;
}

const HZ = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function procSample(pid: number): { rssKb: number; hwmKb: number; threads: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  // Field 2 (comm) may contain spaces: split after its closing parenthesis; utime/stime are fields 14/15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM'), threads: field('Threads'), cpuTicks: Number(rest[11]) + Number(rest[12]) };
}

async function resources(cluster: TestCluster, idleSeconds: number) {
  await settled(cluster);
  await sleep(10_000);
  const before = new Map(cluster.nodes.map((n) => [n.name, procSample(cluster.agents.get(n.name)!.pid)]));
  log(`resources: idle ${idleSeconds} s`);
  await sleep(idleSeconds * 1000);
  return cluster.nodes.map((n) => {
    const now = procSample(cluster.agents.get(n.name)!.pid);
    const cpuSeconds = (now.cpuTicks - before.get(n.name)!.cpuTicks) / HZ;
    return { name: n.name, rssMb: now.rssKb / 1024, hwmMb: now.hwmKb / 1024, threads: now.threads, cpuSecondsPerIdleMinute: (cpuSeconds * 60) / idleSeconds };
  });
}

function wrk(url: string): Promise<{ rps: number; p50Ms: number; p99Ms: number; raw: string }> {
  return new Promise((resolve, reject) => {
    execFile('wrk', ['-t2', '-c10', '-d10s', '--latency', url], { timeout: 60_000 }, (err, stdout) => {
      if (err) return reject(err);
      const ms = (s: string | undefined) => {
        const m = /([\d.]+)(us|ms|s)/.exec(s ?? '');
        if (!m) return NaN;
        const v = Number(m[1]);
        return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
      };
      resolve({
        rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]),
        p50Ms: ms(/^\s+50%\s+(\S+)/m.exec(stdout)?.[1]),
        p99Ms: ms(/^\s+99%\s+(\S+)/m.exec(stdout)?.[1]),
        raw: stdout,
      });
    });
  });
}

async function rest(cluster: TestCluster) {
  const leader = await settled(cluster);
  const out: Record<string, { rps: number; p50Ms: number; p99Ms: number }[]> = {};
  for (const path of ['/primary', '/patroni']) {
    out[path] = [];
    for (let i = 0; i < 3; i++) {
      const r = await wrk(`http://127.0.0.1:${cluster.node(leader).apiPort}${path}`);
      if (/Non-2xx/.test(r.raw)) log(`wrk ${path}: non-2xx answers!\n${r.raw}`);
      log(`wrk ${path} #${i + 1}: ${r.rps} req/s p50 ${r.p50Ms} ms p99 ${r.p99Ms} ms`);
      out[path].push({ rps: r.rps, p50Ms: r.p50Ms, p99Ms: r.p99Ms });
    }
  }
  return out;
}

const fmtS = (ms: number | null | undefined) => (ms === null || ms === undefined ? '–' : `${(ms / 1000).toFixed(2)} s`);

function summarize(trials: Trial[], key: 'eventToFirstNewCommitMs' | 'unavailabilityWindowMs' | 'commandMs') {
  return stats(trials.map((t) => t[key]).filter((v): v is number => typeof v === 'number'));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    host: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavg: os.loadavg(), node: process.version },
    writer: { intervalMs: 20, conninfo: multiHostConninfo([{ name: 'a', port: 1 }]).replace(':1', ':P1,…') },
    trials: args.trials,
  };
  const all: Trial[] = [];
  const aggressivePhases = ['kill10', 'sigterm', 'switchover', 'resources', 'rest'].filter((p) => args.phases.includes(p));
  if (aggressivePhases.length > 0) {
    const { cluster } = await startCluster(AGGRESSIVE);
    try {
      if (args.phases.includes('kill10')) all.push(...(await killTrials(cluster, 'kill-ttl10', args.trials)));
      if (args.phases.includes('sigterm')) all.push(...(await sigtermTrials(cluster, args.trials)));
      if (args.phases.includes('switchover')) {
        all.push(...(await switchoverTrials(cluster, args.trials, 'cli')));
        all.push(...(await switchoverTrials(cluster, Math.max(3, Math.ceil(args.trials / 2)), 'rest')));
      }
      if (args.phases.includes('resources')) results.resources = await resources(cluster, args.idleSeconds);
      if (args.phases.includes('rest')) results.rest = await rest(cluster);
    } finally {
      await cluster.destroy();
    }
  }
  if (args.phases.includes('kill30') || args.phases.includes('resources30')) {
    const { cluster } = await startCluster(SEED);
    try {
      // Patroni's anchor measured its idle agents at these settings (loop_wait 10): like for like.
      if (args.phases.includes('resources30')) results.resources30 = await resources(cluster, args.idleSeconds);
      if (args.phases.includes('kill30')) all.push(...(await killTrials(cluster, 'kill-ttl30', args.trials)));
    } finally {
      await cluster.destroy();
    }
  }
  results.writerTrials = all;
  const byPhase = new Map<string, Trial[]>();
  for (const t of all) byPhase.set(t.phase, [...(byPhase.get(t.phase) ?? []), t]);
  const summary: Record<string, unknown> = {};
  const lines = ['| scenario | trials | event → first commit on new primary, median (min–max) | write gap (last old ack → first new ack), median (max) | command wall time | acked commits lost |', '|---|---|---|---|---|---|'];
  for (const [phase, ts] of byPhase) {
    const first = summarize(ts, 'eventToFirstNewCommitMs');
    const gap = summarize(ts, 'unavailabilityWindowMs');
    const cmd = summarize(ts, 'commandMs');
    summary[phase] = { first, gap, cmd, lost: ts.map((t) => `${t.missingAcked}/${t.acked}`), splitBrain: ts.reduce((s, t) => s + t.splitBrainWindows, 0) };
    lines.push(
      `| ${phase}${ts[0]?.via ? ` (${ts[0].via})` : ''} | ${ts.length} | ${fmtS(first?.median)} (${fmtS(first?.min)}–${fmtS(first?.max)}) | ${fmtS(gap?.median)} (${fmtS(gap?.max)}) | ${cmd ? `${fmtS(cmd.median)} (${fmtS(cmd.min)}–${fmtS(cmd.max)})` : '–'} | ${ts.map((t) => t.missingAcked).join(', ')} (of ~${Math.round(ts.reduce((s, t) => s + t.acked, 0) / ts.length)}) |`,
    );
  }
  results.summary = summary;
  results.hostAfter = { loadavg: os.loadavg() };
  writeFileSync('/tmp/hactl-bench-agent.json', JSON.stringify(results, null, 2));
  process.stdout.write(JSON.stringify(results, null, 2) + '\n\n' + lines.join('\n') + '\n');
  for (const [key, label] of [['resources', 'ttl 10 / loop_wait 2'], ['resources30', 'ttl 30 / loop_wait 10']] as const) {
    if (!results[key]) continue;
    process.stdout.write(`\n${label}:\n| member | VmRSS | VmHWM | threads | CPU s per idle minute |\n|---|---|---|---|---|\n`);
    for (const r of results[key] as { name: string; rssMb: number; hwmMb: number; threads: number; cpuSecondsPerIdleMinute: number }[]) {
      process.stdout.write(`| ${r.name} | ${r.rssMb.toFixed(1)} MB | ${r.hwmMb.toFixed(1)} MB | ${r.threads} | ${r.cpuSecondsPerIdleMinute.toFixed(2)} |\n`);
    }
  }
  if (results.rest) {
    process.stdout.write('\n| endpoint | req/s median (min–max) | p50 median | p99 median (max) |\n|---|---|---|---|\n');
    for (const [path, runs] of Object.entries(results.rest as Record<string, { rps: number; p50Ms: number; p99Ms: number }[]>)) {
      const rps = stats(runs.map((r) => r.rps))!;
      const p50 = stats(runs.map((r) => r.p50Ms))!;
      const p99 = stats(runs.map((r) => r.p99Ms))!;
      process.stdout.write(`| GET ${path} | ${rps.median.toFixed(0)} (${rps.min.toFixed(0)}–${rps.max.toFixed(0)}) | ${p50.median.toFixed(2)} ms | ${p99.median.toFixed(2)} ms (${p99.max.toFixed(2)}) |\n`);
    }
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

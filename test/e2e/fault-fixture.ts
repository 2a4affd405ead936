// Shared set-up of the fault suites (test/e2e/faults-*.test.ts): a TestCluster whose members each
// live in their own network namespace when we are root (so partitions are real), psql and hactl
// runners, log dumps for failure messages, and a teardown that leaves no process, namespace,
// iptables rule or temp dir behind.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BIN, REPO_ROOT, TestCluster, type ClusterOptions, type NodeSpec } from '../helpers/cluster.js';
import { NetFault, netFaultSupported } from '../helpers/netfault.js';

export const netSupport = netFaultSupported();

export interface FaultEnv {
  cluster: TestCluster;
  network?: NetFault;
}

/** A 3-member cluster (not started), in namespaces when possible or when `requireNetwork`. */
export async function createFaultCluster(options: ClusterOptions & { requireNetwork?: boolean } = {}): Promise<FaultEnv> {
  const size = options.size ?? 3;
  const useNetwork = options.requireNetwork || netSupport.ok;
  const network = useNetwork ? await NetFault.create(size) : undefined;
  try {
    const cluster = await TestCluster.create({ ...options, size, network });
    return { cluster, network };
  } catch (err) {
    await network?.cleanup();
    throw err;
  }
}

/** Kills agents and PostgreSQL, removes temp dirs, then namespaces and rules. Never throws. */
export async function destroyFaultCluster(env: Partial<FaultEnv>): Promise<void> {
  await env.cluster?.destroy().catch(() => {});
  await env.network?.cleanup().catch(() => {});
}

/** The last lines of every agent's output, for assertion messages. */
export function agentLogs(cluster: TestCluster, lines = 40): string {
  return cluster.nodes.map((n) => `--- ${n.name}\n${cluster.output(n.name).split('\n').slice(-lines).join('\n')}`).join('\n');
}

/**
 * What every agent did over the whole test (all its restarts), without the lines every cycle
 * repeats, for failure messages of long scenarios: decisions, warnings, errors.
 */
export function agentEvents(cluster: TestCluster, lines = 80): string {
  const routine = /INFO: no action\. |WARNING: Loop time exceeded|INFO: clone in progress|updated leader lock during/;
  return cluster.nodes
    .map((n) => {
      const events: { line: string; text: string; count: number }[] = [];
      for (const line of cluster.history(n.name).split('\n')) {
        if (line === '' || routine.test(line)) continue;
        // A decision repeated each cycle (alone or alternating with another) is shown once, with a count.
        const text = line.replace(/^\S+ \S+ /, '');
        const same = events.slice(-3).find((e) => e.text === text);
        if (same) same.count++;
        else events.push({ line, text, count: 1 });
      }
      const shown = events.slice(-lines).map((e) => (e.count > 1 ? `${e.line} (×${e.count} until now)` : e.line));
      return `--- ${n.name} (events)\n${shown.join('\n')}`;
    })
    .join('\n');
}

/** The psql of the installed PostgreSQL (Debian: /usr/lib/postgresql/<major>/bin). */
export function psqlBinary(): string {
  for (const v of ['17', '16', '15', '14', '13']) {
    const p = `/usr/lib/postgresql/${v}/bin/psql`;
    if (existsSync(p)) return p;
  }
  return 'psql';
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `psql -XAtq "<conninfo>" -c <sql>` (connect timeout 3 s). */
export function psql(conninfo: string, sqlText: string): RunResult {
  const r = spawnSync(psqlBinary(), ['-X', '-A', '-t', '-q', '-d', conninfo, '-c', sqlText], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, PGCONNECT_TIMEOUT: '3' },
  });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

/** Multi-host libpq conninfo over every member (`target_session_attrs` as given). */
export function multiHost(nodes: readonly NodeSpec[], attrs: 'read-write' | 'read-only' | 'primary' | 'standby'): string {
  return `host=${nodes.map((n) => n.host).join(',')} port=${nodes.map((n) => n.pgPort).join(',')} user=postgres dbname=postgres target_session_attrs=${attrs}`;
}

/** `hactl <args>` from the built tree (asynchronous: the agents must keep running meanwhile). */
export function hactl(args: string[], timeoutMs = 90_000): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ status: code, stdout, stderr });
    });
  });
}

/** `--api` flags naming every member's REST API. */
export function apiFlags(nodes: readonly NodeSpec[]): string[] {
  return ['--api', nodes.map((n) => `http://${n.host}:${n.apiPort}`).join(',')];
}

/** The member's data directory log files' tail is sometimes the only clue; path for messages. */
export function pgLogDir(node: NodeSpec): string {
  return path.join(node.dataDir, 'log');
}

// Whole-cluster fixtures: agent config files for N members on 127.0.0.1 (free ports, temp dirs the
// postgres user owns, small timing: ttl 6 / loop_wait 1 / retry_timeout 2), agent processes
// (`node bin/run.js agent -c …`, so run `npm run build` first) in a ProcessRegistry, and probes:
// the REST status of a member, SQL on a member, "one leader and N−1 streaming replicas".
// Everything started here is killed by `cluster.destroy()` — call it in `after`, it never throws.
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePorts } from './net.js';
import { cleanupPostgres, tempDirForPostgres } from './postgres.js';
import { ProcessRegistry, type ManagedProcess } from './process.js';
import { sleep, waitUntil } from './wait.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(REPO_ROOT, 'bin', 'run.js');

export interface ClusterTiming {
  ttl: number;
  loop_wait: number;
  retry_timeout: number;
}

export const FAST_TIMING: ClusterTiming = { ttl: 6, loop_wait: 1, retry_timeout: 2 };

export interface NodeSpec {
  name: string;
  base: string;
  configPath: string;
  dataDir: string;
  apiPort: number;
  pgPort: number;
  raftPort: number;
}

export interface ClusterOptions {
  size?: number;
  scope?: string;
  timing?: ClusterTiming;
  /** Raft members: every node, or none (for single-node loop tests that use the memory DCS). */
  raft?: boolean;
  /** Extra top-level YAML appended to every config (e.g. `tags:`). */
  extraYaml?: (name: string) => string;
}

/** The YAML of one member: Patroni's keys, trust auth on loopback, fsync off, fast WAL retry. */
export function agentConfigYaml(spec: NodeSpec, all: readonly NodeSpec[], options: { scope: string; timing: ClusterTiming; raft: boolean; extraYaml?: string }): string {
  const { timing } = options;
  const partners = all.filter((n) => n.name !== spec.name).map((n) => `'127.0.0.1:${n.raftPort}'`);
  const raft = options.raft
    ? `raft:
  self_addr: '127.0.0.1:${spec.raftPort}'
  partner_addrs: [${partners.join(', ')}]
  data_dir: ${spec.base}/raft
`
    : '';
  return `scope: ${options.scope}
namespace: /service
name: ${spec.name}
log:
  level: INFO
restapi:
  listen: 127.0.0.1:${spec.apiPort}
  connect_address: 127.0.0.1:${spec.apiPort}
${raft}bootstrap:
  dcs:
    ttl: ${timing.ttl}
    loop_wait: ${timing.loop_wait}
    retry_timeout: ${timing.retry_timeout}
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_log_hints: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - auth: trust
postgresql:
  listen: 127.0.0.1:${spec.pgPort}
  connect_address: 127.0.0.1:${spec.pgPort}
  data_dir: ${spec.dataDir}
  pgpass: ${spec.base}/pgpass
  pg_ctl_timeout: 30
  use_pg_rewind: true
  authentication:
    superuser:
      username: postgres
      password: su-secret
    replication:
      username: replicator
      password: rep-secret
    rewind:
      username: rewinder
      password: rewind-secret
  parameters:
    unix_socket_directories: '${spec.base}'
    fsync: 'off'
    synchronous_commit: 'off'
    wal_retrieve_retry_interval: 200ms
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
watchdog:
  mode: off
${options.extraYaml ?? ''}`;
}

/** Writes N configs (`node1`…`nodeN`) into fresh temp dirs; nothing is started. */
export async function writeClusterConfigs(options: ClusterOptions = {}): Promise<{ scope: string; nodes: NodeSpec[] }> {
  const size = options.size ?? 3;
  const scope = options.scope ?? `hactl-e2e-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const ports = await freePorts(size * 3);
  const nodes: NodeSpec[] = [];
  for (let i = 0; i < size; i++) {
    const base = await tempDirForPostgres('hactl-ag-');
    nodes.push({
      name: `node${i + 1}`,
      base,
      configPath: path.join(base, 'ha.yml'),
      dataDir: path.join(base, 'data'),
      apiPort: ports[i * 3]!,
      pgPort: ports[i * 3 + 1]!,
      raftPort: ports[i * 3 + 2]!,
    });
  }
  for (const node of nodes) {
    const yaml = agentConfigYaml(node, nodes, {
      scope,
      timing: options.timing ?? FAST_TIMING,
      raft: options.raft ?? true,
      extraYaml: options.extraYaml?.(node.name),
    });
    await fs.writeFile(node.configPath, yaml, { mode: 0o600 });
  }
  return { scope, nodes };
}

/** `GET /patroni` of a member; null when it does not answer. */
export async function memberStatus(node: NodeSpec, timeoutMs = 1000): Promise<Record<string, unknown> | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${node.apiPort}/patroni`, { signal: AbortSignal.timeout(timeoutMs) });
    return (await res.json()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** One SQL statement on a member over TCP as the superuser; throws when it cannot connect. */
export async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(node: NodeSpec, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ host: '127.0.0.1', port: node.pgPort, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Whether the member's PostgreSQL answers and is (not) in recovery; null when it does not answer. */
export async function inRecovery(node: NodeSpec): Promise<boolean | null> {
  try {
    const rows = await sql<{ r: boolean }>(node, 'SELECT pg_is_in_recovery() AS r');
    return rows[0]!.r;
  } catch {
    return null;
  }
}

/** The postmaster pid from postmaster.pid, or null. */
export function postmasterPid(node: NodeSpec): number | null {
  try {
    const pid = Number(readFileSync(path.join(node.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export class TestCluster {
  readonly registry = new ProcessRegistry();
  readonly agents = new Map<string, ManagedProcess>();

  constructor(
    readonly scope: string,
    readonly nodes: NodeSpec[],
  ) {}

  static async create(options: ClusterOptions = {}): Promise<TestCluster> {
    const { scope, nodes } = await writeClusterConfigs(options);
    return new TestCluster(scope, nodes);
  }

  node(name: string): NodeSpec {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** Spawns the agent of `name` (a previous process of it must have exited). */
  startAgent(name: string, env: NodeJS.ProcessEnv = {}): ManagedProcess {
    const node = this.node(name);
    const proc = this.registry.spawn(name, process.execPath, [BIN, 'agent', '-c', node.configPath], {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: '1', ...env },
    });
    this.agents.set(name, proc);
    return proc;
  }

  startAll(): void {
    for (const n of this.nodes) this.startAgent(n.name);
  }

  /** Output of a member's agent (for assertion messages). */
  output(name: string): string {
    return this.agents.get(name)?.output() ?? '';
  }

  /** Names whose PostgreSQL is a writable primary right now. */
  async primaries(names = this.nodes.map((n) => n.name)): Promise<string[]> {
    const answers = await Promise.all(names.map(async (n) => ((await inRecovery(this.node(n))) === false ? n : null)));
    return answers.filter((n): n is string => n !== null);
  }

  /**
   * Waits for exactly one primary among `names` and every other of them streaming from it (per
   * the primary's pg_stat_replication); returns the primary's name.
   */
  async waitForHealthy(names = this.nodes.map((n) => n.name), timeoutMs = 60_000): Promise<string> {
    return waitUntil(
      async () => {
        const primaries = await this.primaries(names);
        if (primaries.length !== 1) return null;
        const leader = primaries[0]!;
        const rows = await sql<{ application_name: string; state: string }>(this.node(leader), 'SELECT application_name, state FROM pg_stat_replication');
        const streaming = new Set(rows.filter((r) => r.state === 'streaming').map((r) => r.application_name));
        return names.every((n) => n === leader || streaming.has(n)) ? leader : null;
      },
      { timeoutMs, intervalMs: 200, what: `one primary and ${names.length - 1} streaming replicas among ${names.join(', ')}` },
    );
  }

  /** kill -9 of a member's agent and postmaster (the host "dies"). */
  async killHard(name: string): Promise<void> {
    const proc = this.agents.get(name);
    const pm = postmasterPid(this.node(name));
    proc?.signal('SIGKILL');
    if (pm !== null) {
      try {
        process.kill(pm, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (proc) await proc.exited;
    // The backends die with the postmaster within moments; wait so the port is free for a restart.
    await sleep(300);
  }

  /** Kills every agent and PostgreSQL server and removes the temp dirs. Never throws. */
  async destroy(): Promise<void> {
    await this.registry.killAll().catch(() => {});
    for (const node of this.nodes) {
      const pm = postmasterPid(node);
      if (pm !== null) {
        try {
          process.kill(pm, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    await sleep(200);
    this.registry.dispose();
    await cleanupPostgres().catch(() => {});
  }
}

// Whole-cluster fixtures: agent config files for N members on 127.0.0.1 (free ports, temp dirs the
// postgres user owns, small timing: ttl 6 / loop_wait 1 / retry_timeout 2), agent processes
// (`node bin/run.js agent -c …`, so run `npm run build` first) in a ProcessRegistry, and probes:
// the REST status of a member, SQL on a member, "one leader and N−1 streaming replicas".
// Everything started here is killed by `cluster.destroy()` — call it in `after`, it never throws.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { FAST_TIMING, memberConfigYaml, planMembers, writeMemberConfigs, type LocalMember, type LocalTiming, type MemberConfigOptions } from '../../src/demo/config.js';
import type { NetFault } from './netfault.js';
import { cleanupPostgres, tempDirForPostgres } from './postgres.js';
import { ProcessRegistry, type ManagedProcess } from './process.js';
import { sleep, waitUntil } from './wait.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(REPO_ROOT, 'bin', 'run.js');

export type ClusterTiming = LocalTiming;
export { FAST_TIMING };

/** A member: name, directories, its address (`host`, 127.0.0.1 unless in a NetFault namespace) and ports. */
export type NodeSpec = LocalMember;

export interface ClusterOptions {
  size?: number;
  scope?: string;
  timing?: ClusterTiming;
  /** Raft members: every node, or none (for single-node loop tests that use the memory DCS). */
  raft?: boolean;
  /** Extra top-level YAML appended to every config (e.g. `tags:`). */
  extraYaml?: (name: string) => string;
  /**
   * Each node in its own network namespace (node i on `network.addrs[i]`, agents spawned inside it),
   * so `network.isolate(node.host)` cuts real links. Create it with at least `size` nodes; the
   * caller cleans it up after `cluster.destroy()`.
   */
  network?: NetFault;
  /** Default true. */
  usePgRewind?: boolean;
  /** Per-node watchdog device (FIFO of the fake device), or none. */
  watchdog?: (name: string) => MemberConfigOptions['watchdog'];
  /** An external etcd v3 store instead of the embedded Raft: an `etcd3:` section, no `raft:` (overrides `raft`). */
  store?: { etcd3: { hosts: readonly string[] } };
}

/** The `etcd3:` section of a member on an external etcd (test/helpers/etcd.ts gives the endpoints). */
function etcd3Yaml(store: ClusterOptions['store']): string {
  return store ? `etcd3:\n  hosts: [${store.etcd3.hosts.map((h) => `'${h}'`).join(', ')}]\n` : '';
}

/** The YAML of one member (src/demo/config.ts, shared with `hactl demo`). */
export function agentConfigYaml(spec: NodeSpec, all: readonly NodeSpec[], options: { scope: string; timing: ClusterTiming; raft: boolean; extraYaml?: string; trustedCidrs?: string[] }): string {
  return memberConfigYaml(spec, all, options);
}

/** Writes N configs (`node1`…`nodeN`) into fresh temp dirs; nothing is started. */
export async function writeClusterConfigs(options: ClusterOptions = {}): Promise<{ scope: string; nodes: NodeSpec[] }> {
  const size = options.size ?? 3;
  const scope = options.scope ?? `hactl-e2e-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const network = options.network;
  if (network && network.nodes.length < size) throw new Error(`the NetFault has ${network.nodes.length} namespaces for ${size} nodes`);
  const nodes = await planMembers({
    size,
    makeBase: () => tempDirForPostgres('hactl-ag-'),
    hostOf: network ? (i) => network.addrs[i]! : undefined,
  });
  const watchdog = options.watchdog;
  await writeMemberConfigs(nodes, {
    scope,
    usePgRewind: options.usePgRewind,
    watchdog: watchdog ? (name) => watchdog(name) : undefined,
    timing: options.timing ?? FAST_TIMING,
    raft: options.store ? false : (options.raft ?? true),
    extraYaml: options.store ? (name) => etcd3Yaml(options.store) + (options.extraYaml?.(name) ?? '') : options.extraYaml,
    trustedCidrs: network ? [network.cidr] : [],
  });
  return { scope, nodes };
}

/** `GET /patroni` of a member; null when it does not answer. */
export async function memberStatus(node: NodeSpec, timeoutMs = 1000): Promise<Record<string, unknown> | null> {
  try {
    const res = await fetch(`http://${node.host}:${node.apiPort}/patroni`, { signal: AbortSignal.timeout(timeoutMs) });
    return (await res.json()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** One SQL statement on a member over TCP as the superuser; throws when it cannot connect. */
export async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(node: NodeSpec, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ host: node.host, port: node.pgPort, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2000 });
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
    readonly network?: NetFault,
  ) {}

  static async create(options: ClusterOptions = {}): Promise<TestCluster> {
    const { scope, nodes } = await writeClusterConfigs(options);
    return new TestCluster(scope, nodes, options.network);
  }

  node(name: string): NodeSpec {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** Spawns the agent of `name` (a previous process of it must have exited). */
  startAgent(name: string, env: NodeJS.ProcessEnv = {}): ManagedProcess {
    const node = this.node(name);
    const argv = [BIN, 'agent', '-c', node.configPath];
    // `ip netns exec` execs the command: the managed pid is the agent's, so signals reach it directly.
    const cmd = this.network ? this.network.wrap(node.host, process.execPath, argv) : { command: process.execPath, args: argv };
    const proc = this.registry.spawn(name, cmd.command, cmd.args, {
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

// Whole-cluster fixtures: agent config files for N members on 127.0.0.1 (free ports, temp dirs the
// postgres user owns, small timing: ttl 6 / loop_wait 1 / retry_timeout 2), agent processes
// (`node bin/run.js agent -c …`, so run `npm run build` first) in a ProcessRegistry, and probes:
// the REST status of a member, SQL on a member, "one leader and N−1 streaming replicas".
// Everything started here is killed by `cluster.destroy()` — call it in `after`, it never throws.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { defaultFenceDir } from '../../src/agent/fence/settings.js';
import { FAST_TIMING, memberConfigYaml, planMembers, writeMemberConfigs, type LocalMember, type LocalTiming, type MemberConfigOptions } from '../../src/demo/config.js';
import type { NetFault } from './netfault.js';
import { removeTempDir, tempDirForPostgres } from './postgres.js';
import { removeFenceOf } from './fence.js';
import { goneFrom, pidGone, processesIn, processesNaming, ProcessRegistry, runsIn, tailOf, type ManagedProcess } from './process.js';
import { describeLeaks, passwordsInConfig, SecretLeakWatch } from './secret-leaks.js';
import { LIVENESS_MS, WaitTimeout, waitUntil } from './wait.js';

/**
 * Bounds for "the cluster is healthy again": generous, because a loaded machine stretches every step
 * (a failover with a fenced candidate and a rewind took over a minute at load 20 on two cores), and a
 * bound that is met costs nothing. Bootstrap adds initdb and two clones.
 */
export const HEALTHY_WITHIN_MS = 120_000;
export const BOOTSTRAPPED_WITHIN_MS = 240_000;

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

/** How long a probe connection stays open unused, and the bound on its connect and on each probe. */
const PROBE_IDLE_MS = 1000;
const PROBE_BOUND_MS = 2000;
const probeClients = new Map<string, { client: pg.Client; idle: NodeJS.Timeout }>();

/**
 * A status query (pg_is_in_recovery, pg_stat_replication) for the polls that run every 200 ms. The
 * connection is kept while probes of the member come less than PROBE_IDLE_MS apart: a new backend
 * per poll was most of a suite run's PostgreSQL processes (#15). Each probe is bounded like sql()'s
 * connect, so a frozen or isolated server is "not answering" as before, and one that fails on a kept
 * connection (the server restarted meanwhile) is asked again on a new one, as sql() would have.
 */
export async function probe<T extends pg.QueryResultRow = pg.QueryResultRow>(node: NodeSpec, text: string): Promise<T[]> {
  const key = `${node.host}:${node.pgPort}`;
  const kept = probeClients.get(key);
  if (kept) {
    // Taken while in use: a concurrent probe of the same member opens its own.
    probeClients.delete(key);
    clearTimeout(kept.idle);
    try {
      return await probeOn(key, kept.client, text);
    } catch {
      // fall through to a new connection
    }
  }
  const client = new pg.Client({ host: node.host, port: node.pgPort, user: 'postgres', database: 'postgres', connectionTimeoutMillis: PROBE_BOUND_MS });
  client.on('error', () => {});
  // Closed by the server (a shutdown) while kept: forget it.
  client.once('end', () => {
    const kept = probeClients.get(key);
    if (kept?.client !== client) return;
    clearTimeout(kept.idle);
    probeClients.delete(key);
  });
  await client.connect();
  return probeOn(key, client, text);
}

async function probeOn<T extends pg.QueryResultRow>(key: string, client: pg.Client, text: string): Promise<T[]> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const query = client.query<T>(text);
    query.catch(() => {});
    const rows = (await Promise.race([query, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_BOUND_MS} ms`)), PROBE_BOUND_MS)))]))
      .rows;
    if (probeClients.has(key)) void client.end().catch(() => {});
    else {
      const idle = setTimeout(() => {
        if (probeClients.get(key)?.client === client) probeClients.delete(key);
        void client.end().catch(() => {});
      }, PROBE_IDLE_MS);
      idle.unref();
      probeClients.set(key, { client, idle });
    }
    return rows;
  } catch (err) {
    void client.end().catch(() => {});
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Whether the member's PostgreSQL answers and is (not) in recovery; null when it does not answer. */
export async function inRecovery(node: NodeSpec): Promise<boolean | null> {
  try {
    const rows = await probe<{ r: boolean }>(node, 'SELECT pg_is_in_recovery() AS r');
    return rows[0]!.r;
  } catch {
    return null;
  }
}

/**
 * The pid of the member's running postmaster, or null: the pid in postmaster.pid, and only while that
 * process runs in the data directory. A killed server leaves its pid file behind, and its pid soon
 * belongs to another process (`runsIn`): signalling it would kill an unrelated test's agent.
 */
export function postmasterPid(node: NodeSpec): number | null {
  try {
    const pid = Number(readFileSync(path.join(node.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 && runsIn(pid, node.dataDir) ? pid : null;
  } catch {
    return null;
  }
}

export class TestCluster {
  readonly registry = new ProcessRegistry();
  readonly agents = new Map<string, ManagedProcess>();
  /** Every agent process started per member, oldest first (`history`). */
  private readonly incarnations = new Map<string, ManagedProcess[]>();

  /** Issue 14: the cluster's passwords must show in no log, `ps` line or show-config output (checked in destroy). */
  readonly leakWatch: SecretLeakWatch;

  constructor(
    readonly scope: string,
    readonly nodes: NodeSpec[],
    readonly network?: NetFault,
  ) {
    this.leakWatch = new SecretLeakWatch(clusterPasswords(nodes));
  }

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
    this.incarnations.set(name, [...(this.incarnations.get(name) ?? []), proc]);
    this.leakWatch.watchOutput(`agent ${name}`, proc.child);
    return proc;
  }

  startAll(): void {
    for (const n of this.nodes) this.startAgent(n.name);
  }

  /** Output of a member's agent (for assertion messages). */
  output(name: string): string {
    return this.agents.get(name)?.output() ?? '';
  }

  /** Output of every agent process the member has had, oldest first, restarts marked. */
  history(name: string): string {
    // How each ended (a signal with no last words is itself a clue), then the restart mark.
    return (this.incarnations.get(name) ?? []).map((p) => (p.exitNote ? `${p.output()}--- ${name}'s agent ended: ${p.exitNote} ---\n` : p.output())).join(`--- ${name}'s agent restarted ---\n`);
  }

  /**
   * For chasing a flake by hand: with HACTL_KEEP_LOGS=<dir>, teardown writes every member's whole
   * agent history there (<dir>/<its directories>-<member>.log), since assertion messages carry
   * only the last lines.
   */
  private keepLogs(): void {
    const dir = process.env.HACTL_KEEP_LOGS;
    if (!dir) return;
    mkdirSync(dir, { recursive: true });
    for (const n of this.nodes) writeFileSync(path.join(dir, `${path.basename(path.dirname(n.base))}-${path.basename(n.base)}-${n.name}.log`), this.history(n.name));
  }

  /**
   * Waits until the agent of `name` has logged a line matching `pattern` (an agent writes its
   * cycle's line after acting on it, so what a test just saw in SQL may not be in the log yet).
   */
  async waitForLog(name: string, pattern: RegExp, timeoutMs = LIVENESS_MS): Promise<string> {
    try {
      return await waitUntil(() => pattern.exec(this.output(name))?.[0], { timeoutMs, intervalMs: 100, what: `${name}'s agent to log ${pattern}` });
    } catch (err) {
      if (!(err instanceof WaitTimeout)) throw err;
      throw new WaitTimeout(`${err.message}\n--- last lines of ${name}'s agent\n${this.output(name).split('\n').slice(-20).join('\n')}`);
    }
  }

  /**
   * Waits until the agent of `name` has finished `cycles` more HA cycles, counted by the decision
   * line each cycle logs (`line`: by default the steady "no action. I am (name)"; pass the one the
   * member repeats when it is not steady): "the agents had their chance to act" without guessing a duration.
   */
  async waitForCycles(name: string, cycles = 2, line = new RegExp(`INFO: (?:PAUSE: )?no action\\. I am \\(${name}\\)`), timeoutMs = LIVENESS_MS): Promise<void> {
    const global = new RegExp(line.source, 'g');
    const count = () => this.output(name).match(global)?.length ?? 0;
    const start = count();
    await waitUntil(() => count() >= start + cycles, { timeoutMs, intervalMs: 100, what: `${cycles} more HA cycles of ${name}` });
  }

  /** Names whose PostgreSQL is a writable primary right now. */
  async primaries(names = this.nodes.map((n) => n.name)): Promise<string[]> {
    const answers = await Promise.all(names.map(async (n) => ((await inRecovery(this.node(n))) === false ? n : null)));
    return answers.filter((n): n is string => n !== null);
  }

  /**
   * Waits for exactly one primary among `names` and every other of them streaming from it (per
   * the primary's pg_stat_replication); returns the primary's name. On timeout the error carries
   * each member's replication state and the tail of its PostgreSQL log (`diagnose`).
   */
  async waitForHealthy(names = this.nodes.map((n) => n.name), timeoutMs = HEALTHY_WITHIN_MS): Promise<string> {
    try {
      return await waitUntil(
        async () => {
          const primaries = await this.primaries(names);
          if (primaries.length !== 1) return null;
          const leader = primaries[0]!;
          const rows = await probe<{ application_name: string; state: string }>(this.node(leader), 'SELECT application_name, state FROM pg_stat_replication');
          const streaming = new Set(rows.filter((r) => r.state === 'streaming').map((r) => r.application_name));
          return names.every((n) => n === leader || streaming.has(n)) ? leader : null;
        },
        { timeoutMs, intervalMs: 200, what: `one primary and ${names.length - 1} streaming replicas among ${names.join(', ')}` },
      );
    } catch (err) {
      if (!(err instanceof WaitTimeout)) throw err;
      throw new WaitTimeout(`${err.message}
${await this.diagnose(names)}`);
    }
  }

  /**
   * What each member's PostgreSQL says about replication, for failure messages: role, timeline,
   * WAL receiver (status, upstream, timeline), the replicas its primary sees, and the last lines
   * of its server log (PostgreSQL's own account of why it is not streaming).
   */
  async diagnose(names = this.nodes.map((n) => n.name), logLines = 15): Promise<string> {
    const parts: string[] = [];
    for (const name of names) {
      const node = this.node(name);
      let state: string;
      try {
        const [row] = await sql<{ r: boolean; tl: number; receiver: string | null; senders: string | null }>(
          node,
          `SELECT pg_is_in_recovery() AS r,
             (pg_control_checkpoint()).timeline_id AS tl,
             (SELECT status || ' tl ' || received_tli || ' flushed ' || flushed_lsn || ' from ' || sender_host || ':' || sender_port FROM pg_stat_wal_receiver) AS receiver,
             (SELECT string_agg(application_name || ' ' || state, ', ') FROM pg_stat_replication) AS senders`,
        );
        state = row!.r ? `replica (checkpoint timeline ${row!.tl}), WAL receiver: ${row!.receiver ?? 'none'}` : `primary, replicas: ${row!.senders ?? 'none'}`;
      } catch (err) {
        state = `not answering (${(err as Error).message})`;
      }
      const agent = this.agents.get(name);
      const agentState = !agent ? 'agent never started' : agent.hasExited ? `agent exited (${agent.exitNote})` : 'agent running';
      parts.push(`--- ${name}: ${agentState}; PostgreSQL ${state}\n${tailOf(path.join(node.dataDir, 'log', 'postmaster.log'), logLines)}`);
    }
    return parts.join('\n');
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
    // Backends outlive a SIGKILLed postmaster for a moment, holding its shared memory, and its pid
    // lingers until reaped: a restart before they are gone fails ("pre-existing shared memory block
    // is still in use", "Is another postmaster running?").
    await waitUntil(() => (pm === null || goneFrom(pm, this.node(name).dataDir)) && processesIn(this.node(name).dataDir).length === 0, {
      timeoutMs: 15_000,
      intervalMs: 50,
      what: `the processes of ${name}'s PostgreSQL (cwd ${this.node(name).dataDir}) to exit`,
    });
  }

  /**
   * Kills every agent and PostgreSQL server and removes the temp dirs. Throws only after all that, when a
   * password of the cluster leaked (checkLeaks).
   */
  async destroy(): Promise<void> {
    const leakCheck = await this.collectLeakEvidence().catch((err: unknown) => err as Error);
    await this.registry.killAll().catch(() => {});
    this.keepLogs();
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
    // Let the killed servers' backends go before their directories are removed (bounded: never throws).
    await waitUntil(() => this.nodes.every((n) => processesIn(n.dataDir).length === 0), { timeoutMs: LIVENESS_MS, what: 'PostgreSQL processes to exit' }).catch(() => {});
    this.registry.dispose();
    // A killed agent's children (pg_basebackup into a clone directory, pg_rewind, hooks) are orphans
    // that keep writing under the member's directory: stop them before it is removed (bounded).
    const orphans = this.nodes.flatMap((n) => processesNaming(n.base));
    for (const pid of orphans) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Exited meanwhile (ESRCH): what we wanted.
      }
    }
    await waitUntil(() => orphans.every(pidGone), { timeoutMs: LIVENESS_MS, what: `the agents' orphaned children ${orphans.join(', ')} to exit` }).catch(() => {});
    const leftovers: string[] = [];
    for (const node of this.nodes) {
      await this.leakWatch.addLogsUnder(node.base);
      // The fence's directory is outside the member's (src/agent/fence/settings.ts): read its log, then
      // stop the fence and remove the directory (fence.ts says why in that order).
      await this.leakWatch.addLogsUnder(defaultFenceDir(node.dataDir));
      await removeFenceOf(node.dataDir).catch((err: Error) => leftovers.push(err.message));
      // The agent's own directory (the Raft journal) sits beside the member's, out of the PostgreSQL user's tree.
      await rm(node.agentDir, { recursive: true, force: true }).catch((err: Error) => leftovers.push(err.message));
    }
    const leaks = leakCheck instanceof Error ? null : this.leakWatch.finish().leaks;
    // This cluster's directories only: cleanupPostgres would also remove those of another cluster the
    // same file still runs (a standby cluster beside its primary cluster), whose agents then re-create
    // them and leave them behind (found by watching /tmp during a suite run).
    for (const node of this.nodes) await removeTempDir(node.base).catch((err: Error) => leftovers.push(err.message));
    if (leakCheck instanceof Error) throw new Error(`the password leak check could not run: ${leakCheck.message}`);
    if (leaks && leaks.length > 0) throw new Error(describeLeaks(leaks));
    if (leftovers.length > 0) throw new Error(`could not clean up after the cluster: ${leftovers.join('; ')}`);
  }

  /** While the agents still run: show-config of a live member and a last `ps` (the logs are read after the kill). */
  private async collectLeakEvidence(): Promise<void> {
    const live = this.nodes.find((n) => this.agents.get(n.name)?.hasExited === false);
    if (live) await this.leakWatch.addShowConfig(BIN, live.configPath, REPO_ROOT);
    await this.leakWatch.samplePs();
  }
}

/** The passwords in the members' config files (the fixture writes them; tests may add more). */
function clusterPasswords(nodes: readonly NodeSpec[]): string[] {
  const all = new Set<string>();
  for (const n of nodes) {
    try {
      for (const p of passwordsInConfig(readFileSync(n.configPath, 'utf8'))) all.add(p);
    } catch {
      // a config not written yet: nothing of it can leak
    }
  }
  return [...all];
}

// Real-process Raft clusters for tests and the benchmark: N `hactl raft node` processes on
// 127.0.0.1 with their own data dirs, started from the compiled CLI (bin/run.js → dist/), so
// `npm run build` must have run (npm test does). Every process is registered for cleanup.
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectRpc, type RpcClient } from '../../../src/raft/transport/index.js';
import { RaftAdminClient } from '../../../src/raft/admin/client.js';
import type { AdminStatus } from '../../../src/raft/admin/protocol.js';
import type { KvCommand, KvResult } from '../../../src/raft/kv/types.js';
import { unwrapReply } from '../../../src/raft/node/rpc.js';
import { freePorts } from '../../helpers/net.js';
import { ProcessRegistry, type ManagedProcess } from '../../helpers/process.js';
import { LIVENESS_MS, waitUntil } from '../../helpers/wait.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = path.join(REPO, 'bin', 'run.js');

export function assertBuilt(): void {
  if (!existsSync(path.join(REPO, 'dist', 'commands', 'raft', 'node.js'))) {
    throw new Error('dist/commands/raft/node.js is missing: run `npm run build` before the real-process Raft tests');
  }
}

/** Whether something accepts TCP connections on `addr` (closed again at once). */
function accepts(addr: string): Promise<boolean> {
  const i = addr.lastIndexOf(':');
  return new Promise((resolve) => {
    const s = connect({ host: addr.slice(0, i), port: Number(addr.slice(i + 1)) });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1_000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export interface ClusterOptions {
  size: number;
  password?: string | null;
  extraArgs?: string[];
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Member addresses (default: `size` free ports on 127.0.0.1), e.g. one per network namespace. */
  addrs?: string[];
  /** Runs a member's command elsewhere (NetFault.wrap: in its namespace, same pid). */
  wrap?: (addr: string, command: string, args: string[]) => { command: string; args: string[] };
}

export class RaftCluster {
  readonly registry = new ProcessRegistry();
  readonly procs = new Map<string, ManagedProcess>();
  private readonly rpc = new Map<string, Promise<RpcClient>>();
  private seq = 0;
  /** Salts the password's key in every member (as an agent's scope does): one derivation per process. */
  readonly scope = `raft-test-${process.pid}`;
  readonly clientId = `test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  private constructor(
    readonly addrs: string[],
    readonly baseDir: string,
    readonly opts: ClusterOptions,
  ) {}

  static async start(opts: ClusterOptions): Promise<RaftCluster> {
    const cluster = await RaftCluster.prepare(opts);
    for (const addr of cluster.addrs) cluster.startNode(addr, cluster.addrs);
    await Promise.all(cluster.addrs.map((a) => cluster.waitListening(a)));
    return cluster;
  }

  /** Addresses and data dirs for `size` members, none started (growth tests start them one by one). */
  static async prepare(opts: ClusterOptions): Promise<RaftCluster> {
    assertBuilt();
    const addrs = opts.addrs ?? (await freePorts(opts.size)).map((p) => `127.0.0.1:${p}`);
    const baseDir = await mkdtemp(path.join(os.tmpdir(), 'hactl-raft-'));
    return new RaftCluster(addrs, baseDir, opts);
  }

  /** Runs `hactl <args>` to completion (e.g. `raft recover`); resolves with its exit code and output. */
  async hactl(args: string[], timeoutMs = 30_000): Promise<{ code: number | string; output: string }> {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    if (this.password) env.HACTL_RAFT_PASSWORD = this.password;
    else delete env.HACTL_RAFT_PASSWORD;
    const proc = this.registry.spawn(`hactl ${args.slice(0, 2).join(' ')}`, process.execPath, [BIN, ...args], { env });
    const timer = setTimeout(() => proc.signal('SIGKILL'), timeoutMs);
    try {
      const code = await proc.exited;
      return { code, output: proc.output() };
    } finally {
      clearTimeout(timer);
    }
  }

  get password(): string | null {
    return this.opts.password ?? null;
  }

  dataDir(addr: string): string {
    return path.join(this.baseDir, addr.replace(/[^0-9A-Za-z]/g, '_'));
  }

  /** Start (or restart) the member at `addr` with `members` as the initial cluster. */
  startNode(addr: string, members: string[], extraArgs: string[] = []): ManagedProcess {
    const args = [BIN, 'raft', 'node', '--self-addr', addr, '--partner-addrs', members.filter((m) => m !== addr).join(',') || addr, '--log-level', this.opts.logLevel ?? 'info'];
    args.push('--data-dir', this.dataDir(addr), '--scope', this.scope);
    if (!this.password) args.push('--allow-unauthenticated');
    args.push(...(this.opts.extraArgs ?? []), ...extraArgs);
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    if (this.password) env.HACTL_RAFT_PASSWORD = this.password;
    else delete env.HACTL_RAFT_PASSWORD;
    const run = this.opts.wrap ? this.opts.wrap(addr, process.execPath, args) : { command: process.execPath, args };
    const proc = this.registry.spawn(`raft ${addr}`, run.command, run.args, { env });
    this.procs.set(addr, proc);
    this.dropClient(addr);
    return proc;
  }

  /**
   * Resolves once the current process of `addr` listens. With a password that takes one key
   * derivation (scrypt, deliberately slow: ~0.1 s on a quiet host, several seconds with five members
   * deriving at once on a loaded one), so timing assertions start from here, not from the spawn.
   */
  async waitListening(addr: string, timeoutMs = 60_000): Promise<void> {
    const p = this.proc(addr);
    // A TCP connect, not a log line: it works at every --log-level (the benchmark runs at warn).
    const state = await waitUntil(async () => (p.hasExited ? 'exited' : (await accepts(addr)) ? 'listening' : null), {
      timeoutMs,
      intervalMs: 50,
      what: `${addr} to listen`,
    });
    if (state === 'exited') throw new Error(`${addr} exited before listening:\n${p.output().slice(-2000)}`);
  }

  proc(addr: string): ManagedProcess {
    const p = this.procs.get(addr);
    if (!p) throw new Error(`no process for ${addr}`);
    return p;
  }

  alive(): string[] {
    return [...this.procs].filter(([, p]) => !p.hasExited).map(([a]) => a);
  }

  async kill(addr: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc(addr);
    p.signal(signal);
    this.dropClient(addr);
    await p.exited;
  }

  async client(addr: string, timeoutMs = 2_000): Promise<RpcClient> {
    let c = this.rpc.get(addr);
    if (!c) {
      c = connectRpc(addr, { password: this.password, timeoutMs });
      this.rpc.set(addr, c);
      c.catch(() => this.rpc.delete(addr));
    }
    return c;
  }

  dropClient(addr: string): void {
    const c = this.rpc.get(addr);
    this.rpc.delete(addr);
    c?.then((x) => x.close()).catch(() => {});
  }

  async status(addr: string, timeoutMs = 1_000): Promise<AdminStatus | null> {
    try {
      const c = await this.client(addr, timeoutMs);
      return unwrapReply(await c.request({ kind: 'admin', op: 'status' }, timeoutMs)).status as AdminStatus;
    } catch {
      this.dropClient(addr);
      return null;
    }
  }

  /** The leader once a majority of the live members agree on it and it says it leads. */
  async currentLeader(among = this.alive()): Promise<string | null> {
    const statuses = await Promise.all(among.map((a) => this.status(a, 500)));
    const votes = new Map<string, number>();
    for (const s of statuses) if (s?.leader) votes.set(s.leader, (votes.get(s.leader) ?? 0) + 1);
    for (const [leader, n] of votes) {
      if (n > among.length / 2 && among.includes(leader)) {
        const s = statuses[among.indexOf(leader)];
        if (s?.role === 'leader') return leader;
      }
    }
    return null;
  }

  async waitForLeader(opts: { exclude?: string; timeoutMs?: number; among?: string[] } = {}): Promise<string> {
    return waitUntil(
      async () => {
        const l = await this.currentLeader(opts.among);
        return l !== null && l !== opts.exclude ? l : null;
      },
      { timeoutMs: opts.timeoutMs ?? LIVENESS_MS, intervalMs: 20, what: 'a Raft leader' },
    );
  }

  /** A KV write through `addr` (forwarded to the leader when needed). */
  async write(addr: string, command: KvCommand, opts: { timeoutMs?: number; clientId?: string; seq?: number } = {}): Promise<KvResult> {
    // Generous: a write the tests expect to succeed may wait for a commit on a loaded machine.
    const timeoutMs = opts.timeoutMs ?? 20_000;
    const c = await this.client(addr, timeoutMs);
    const req = { kind: 'kv', op: 'write', command, clientId: opts.clientId ?? this.clientId, seq: opts.seq ?? ++this.seq, timeoutMs };
    try {
      return unwrapReply(await c.request(req, timeoutMs + 500)).result as KvResult;
    } catch (err) {
      if ((err as Error).name === 'RaftNodeUnreachable' || (err as Error).name === 'RpcTimedOut') this.dropClient(addr);
      throw err;
    }
  }

  async read(addr: string, key: string, linearizable = true, timeoutMs = 5_000): Promise<unknown> {
    const c = await this.client(addr, timeoutMs);
    return unwrapReply(await c.request({ kind: 'kv', op: 'read', key, linearizable, timeoutMs }, timeoutMs + 500)).entry;
  }

  async admin(addr: string): Promise<RaftAdminClient> {
    return RaftAdminClient.connect(addr, { password: this.password, timeoutMs: 3_000 });
  }

  /** Kill every process (SIGKILL) and remove the data dirs. Safe to call twice. */
  async destroy(): Promise<void> {
    for (const addr of [...this.rpc.keys()]) this.dropClient(addr);
    await this.registry.killAll();
    this.registry.dispose();
    await rm(this.baseDir, { recursive: true, force: true });
  }

  /** Recent output of every node (for assertion messages). */
  logs(): string {
    return [...this.procs].map(([a, p]) => `----- ${a} -----\n${p.output().slice(-4000)}`).join('\n');
  }
}

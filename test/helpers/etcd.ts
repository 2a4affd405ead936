// A real etcd cluster for tests (Debian package etcd-server, etcd 3.4): 1 or 3 members on 127.0.0.1
// with free ports and temp data dirs, started as child processes in a ProcessRegistry so every one
// is SIGKILLed in `stop()` — and on exit of the test process — even when a test fails. Members can
// be killed and restarted one by one to take quorum away and give it back.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePorts } from './net.js';
import { ProcessRegistry, type ManagedProcess } from './process.js';
import { LIVENESS_MS, sleep, waitUntil } from './wait.js';

export interface EtcdMember {
  readonly name: string;
  /** `127.0.0.1:<client port>`: what goes into the `etcd3.hosts` list. */
  readonly endpoint: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  process: ManagedProcess | null;
}

export interface EtcdClusterOptions {
  members?: 1 | 3;
  /**
   * etcd's Raft timing. Short so a lost member or quorum shows quickly; it also lowers etcd's
   * minimum lease TTL (1.5 × election timeout, rounded up to whole seconds) to 1 s.
   */
  heartbeatMs?: number;
  electionTimeoutMs?: number;
}

/** Where the etcd binary is, or a clear failure telling how to get it. */
export function etcdBinary(): string {
  const found = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' });
  const bin = found.status === 0 ? found.stdout.trim() : '';
  if (bin === '') {
    throw new Error('etcd is not installed: these tests need the etcd binary from the Debian package etcd-server (apt-get install -y etcd-server; .ci/run installs it)');
  }
  return bin;
}

/**
 * Where the members keep their data: /dev/shm when the machine has it. etcd fdatasyncs its WAL on
 * every write and its Raft here beats every 50 ms; on a disk shared with a whole test suite's
 * PostgreSQL servers one slow sync stalls the member past its election timeout, and the store then
 * looks down to the agents for reasons no test means to test. Memory keeps etcd's semantics
 * (a killed member restarts from its data) without the disk's latency.
 */
function memoryBackedDir(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

export class EtcdCluster {
  private readonly registry = new ProcessRegistry();

  private constructor(
    readonly members: readonly EtcdMember[],
    private readonly baseDir: string,
    private readonly bin: string,
    private readonly options: Required<EtcdClusterOptions>,
  ) {}

  static async start(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    const opts: Required<EtcdClusterOptions> = { members: 1, heartbeatMs: 50, electionTimeoutMs: 500, ...options };
    const bin = etcdBinary();
    const baseDir = await mkdtemp(path.join(memoryBackedDir(), 'hactl-etcd-'));
    const ports = await freePorts(opts.members * 2);
    const members: EtcdMember[] = Array.from({ length: opts.members }, (_, i) => ({
      name: `etcd${i + 1}`,
      endpoint: `127.0.0.1:${ports[2 * i]}`,
      peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
      dataDir: path.join(baseDir, `etcd${i + 1}`),
      process: null,
    }));
    const cluster = new EtcdCluster(members, baseDir, bin, opts);
    try {
      for (let i = 0; i < members.length; i++) cluster.startMember(i);
      await cluster.waitHealthy(members.map((_, i) => i));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  get endpoints(): string[] {
    return this.members.map((m) => m.endpoint);
  }

  /** Index of the member that is etcd's Raft leader right now (asked through etcd's JSON gateway). */
  async leaderIndex(): Promise<number> {
    return waitUntil(
      async () => {
        for (let i = 0; i < this.members.length; i++) {
          const m = this.members[i]!;
          if (!m.process || m.process.hasExited) continue;
          const res = await fetch(`http://${m.endpoint}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(500) });
          const status = (await res.json()) as { leader?: string; header?: { member_id?: string } };
          if (status.leader !== undefined && status.leader === status.header?.member_id) return i + 1;
        }
        return 0;
      },
      { timeoutMs: LIVENESS_MS, what: 'an etcd leader' },
    ).then((n) => n - 1);
  }

  /** SIGKILL one member (its data dir stays, so `restart` brings it back as the same member). */
  async kill(index: number): Promise<void> {
    const proc = this.member(index).process;
    if (!proc || proc.hasExited) return;
    proc.signal('SIGCONT');
    proc.signal('SIGKILL');
    await proc.exited;
  }

  async restart(index: number): Promise<void> {
    this.startMember(index);
    await this.waitHealthy([index]);
  }

  /** Kill every member and remove the data dirs. */
  async stop(): Promise<void> {
    await this.registry.killAll();
    this.registry.dispose();
    await rm(this.baseDir, { recursive: true, force: true });
  }

  private member(index: number): EtcdMember {
    const m = this.members[index];
    if (!m) throw new RangeError(`no etcd member ${index}`);
    return m;
  }

  private startMember(index: number): void {
    const m = this.member(index);
    if (m.process && !m.process.hasExited) throw new Error(`${m.name} is already running`);
    const clientUrl = `http://${m.endpoint}`;
    const args = [
      '--logger=zap',
      '--log-level=warn',
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--initial-cluster=${this.members.map((x) => `${x.name}=${x.peerUrl}`).join(',')}`,
      '--initial-cluster-state=new',
      `--initial-cluster-token=${path.basename(this.baseDir)}`,
      `--heartbeat-interval=${this.options.heartbeatMs}`,
      `--election-timeout=${this.options.electionTimeoutMs}`,
    ];
    m.process = this.registry.spawn(m.name, this.bin, args);
  }

  /** Until each listed member answers /health with a leader (etcd's own check: it has quorum). */
  private async waitHealthy(indexes: readonly number[]): Promise<void> {
    await Promise.all(
      indexes.map(async (i) => {
        const m = this.member(i);
        try {
          await waitUntil(
            async () => {
              if (m.process?.hasExited) throw new Error(`${m.name} exited`);
              const res = await fetch(`http://${m.endpoint}/health`, { signal: AbortSignal.timeout(500) });
              const body = (await res.json()) as { health?: string };
              return body.health === 'true';
            },
            { timeoutMs: LIVENESS_MS, intervalMs: 50, what: `etcd member ${m.name} (${m.endpoint}) to be healthy` },
          );
        } catch (err) {
          // Give a late exit a moment to be noticed, then show what etcd said.
          await sleep(50);
          const tail = m.process?.output().split('\n').slice(-15).join('\n') ?? '';
          throw new Error(`${(err as Error).message}\n--- ${m.name} output ---\n${tail}`, { cause: err });
        }
      }),
    );
  }
}

// A throw-away cluster on this machine for `hactl demo`: N agents on 127.0.0.1 (free ports), the
// embedded Raft store, small timing. As root, PostgreSQL runs as the unprivileged `postgres` user
// (the agent switches for each binary; here we only hand it the directories). Agents run in their
// own process group, so Ctrl-C reaches only the demo, which then stops them in order: SIGTERM,
// wait, SIGKILL as the last resort, directories removed unless kept.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants, mkdtempSync, openSync, closeSync, readFileSync, readlinkSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultFenceDir } from '../agent/fence/settings.js';
import { chownForUser, ensureDirForUser, resolveOsUser } from '../postgres/os-user.js';
import { removeTreeForUser } from '../postgres/user-files.js';
import type { PgOsUser } from '../postgres/types.js';
import { FAST_TIMING, planMembers, writeMemberConfigs, type LocalMember, type LocalTiming } from './config.js';
import { clusterReadiness, type Readiness, type StatusLike } from './readiness.js';

export interface LocalClusterOptions {
  size: number;
  /** Where to put the members; default a new directory under the system temp dir. Must be empty if it exists. */
  dir?: string;
  /** bin/run.js of this package (the agents are `node bin/run.js agent -c …`). */
  binPath: string;
  scope?: string;
  timing?: LocalTiming;
}

export class DemoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DemoError';
  }
}

export interface AgentExit {
  name: string;
  code: number | string;
}

/** Every ancestor of `dir` must let `user` pass (x bit for owner, group or others), or initdb fails later. */
async function checkTraversable(dir: string, user: PgOsUser): Promise<void> {
  for (let d = dir; ; d = path.dirname(d)) {
    const st = await fs.stat(d);
    const ok = st.uid === user.uid ? (st.mode & 0o100) !== 0 : st.gid === user.gid ? (st.mode & 0o010) !== 0 : (st.mode & 0o001) !== 0;
    if (!ok) throw new DemoError(`${d} is not traversable by ${user.name}, who runs PostgreSQL: choose a --dir elsewhere (e.g. under /tmp) or chmod o+x ${d}`);
    if (d === path.dirname(d)) return;
  }
}

export class LocalCluster {
  private readonly children = new Map<string, ChildProcess>();
  readonly exits: AgentExit[] = [];
  private stopping = false;
  private readonly onExit = () => this.killAllSync();

  private constructor(
    readonly dir: string,
    /** Whether we created `dir` (and so may remove it, not just our member directories). */
    private readonly createdDir: boolean,
    readonly scope: string,
    readonly timing: LocalTiming,
    readonly members: LocalMember[],
    private readonly binPath: string,
  ) {}

  static async create(options: LocalClusterOptions): Promise<LocalCluster> {
    if (!Number.isInteger(options.size) || options.size < 1 || options.size > 9) throw new DemoError(`--nodes must be between 1 and 9, got ${options.size}`);
    const user = await resolveOsUser();
    let dir: string;
    let createdDir = false;
    if (options.dir) {
      dir = path.resolve(options.dir);
      const entries = await fs.readdir(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw new DemoError(`cannot use ${dir}: ${err.message}`);
      });
      if (entries === null) {
        await fs.mkdir(dir, { recursive: true });
        createdDir = true;
      } else if (entries.length > 0) {
        throw new DemoError(`${dir} is not empty; give an empty or new directory (or none for a temporary one)`);
      }
    } else {
      dir = mkdtempSync(path.join(os.tmpdir(), 'hactl-demo-'));
      createdDir = true;
    }
    // PostgreSQL (the postgres user when we are root) must be able to enter every level.
    if (user.switchUser) {
      await checkTraversable(path.dirname(dir), user).catch(async (err: unknown) => {
        if (createdDir) await fs.rm(dir, { recursive: true, force: true });
        throw err;
      });
    }
    // The demo directory stays ours (root's): each member's directory in it is the PostgreSQL user's,
    // and beside it `<member>.agent` holds the Raft journal, out of that user's reach (issue 14). A
    // directory we made is opened for traversal; one the user gave is used as it is.
    if (!user.switchUser) await chownForUser(dir, user, 0o700);
    else if (createdDir) await fs.chmod(dir, 0o755);
    else await checkTraversable(path.join(dir, 'node1'), user);
    const scope = options.scope ?? 'demo';
    const timing = options.timing ?? FAST_TIMING;
    const members = await planMembers({
      size: options.size,
      makeBase: async (i) => {
        const base = path.join(dir, `node${i + 1}`);
        await ensureDirForUser(base, user, 0o700);
        return base;
      },
    });
    await writeMemberConfigs(members, { scope, timing, raft: true });
    return new LocalCluster(dir, createdDir, scope, timing, members, options.binPath);
  }

  logPath(m: LocalMember): string {
    return path.join(m.base, 'agent.log');
  }

  apiUrls(): string[] {
    return this.members.map((m) => `http://${m.host}:${m.apiPort}`);
  }

  /** Spawns every agent at once, output to `<member>/agent.log`. */
  start(env: NodeJS.ProcessEnv = process.env): void {
    process.once('exit', this.onExit);
    for (const m of this.members) {
      // The member directory is the PostgreSQL user's: never append to what a link there points at.
      const log = openSync(this.logPath(m), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
      try {
        const child = spawn(process.execPath, [this.binPath, 'agent', '-c', m.configPath], {
          detached: true,
          stdio: ['ignore', log, log],
          env: { ...env, NO_COLOR: '1' },
        });
        this.children.set(m.name, child);
        child.once('exit', (code, signal) => this.exits.push({ name: m.name, code: code ?? signal ?? 'unknown' }));
      } finally {
        closeSync(log);
      }
    }
  }

  /** Agents that ended although nobody asked them to. */
  unexpectedExits(): AgentExit[] {
    return this.stopping ? [] : this.exits;
  }

  async statuses(timeoutMs = 500): Promise<Array<{ name: string; status: StatusLike | null }>> {
    return Promise.all(
      this.members.map(async (m) => {
        try {
          const res = await fetch(`http://${m.host}:${m.apiPort}/patroni`, { signal: AbortSignal.timeout(timeoutMs) });
          return { name: m.name, status: (await res.json()) as StatusLike };
        } catch {
          // Not answering yet: the readiness wait asks again.
          return { name: m.name, status: null };
        }
      }),
    );
  }

  /** Polls every 100 ms until one leader and N−1 streaming replicas; throws on timeout or a dead agent. */
  async waitReady(timeoutMs: number, onProgress?: (r: Readiness) => void): Promise<Readiness> {
    const deadline = Date.now() + timeoutMs;
    let last: Readiness | null = null;
    for (;;) {
      const exits = this.unexpectedExits();
      if (exits.length > 0) throw new DemoError(`agent ${exits.map((e) => `${e.name} exited (${e.code})`).join(', ')}`);
      last = clusterReadiness(await this.statuses());
      if (last.ready) return last;
      onProgress?.(last);
      if (Date.now() >= deadline) throw new DemoError(`not ready after ${Math.round(timeoutMs / 1000)} s: waiting for ${last.waitingFor}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The last lines of each agent's log (for an error message). */
  async logTails(lines = 15): Promise<string> {
    const parts: string[] = [];
    for (const m of this.members) {
      const text = await fs.readFile(this.logPath(m), 'utf8').catch(() => '');
      parts.push(`--- ${m.name} (${this.logPath(m)})\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`);
    }
    return parts.join('\n');
  }

  /**
   * SIGTERM every agent (each stops its PostgreSQL and leaves; the leader hands its key over),
   * wait up to `graceMs`, then SIGKILL what is left, postmasters included; remove the directories
   * unless `keep`.
   */
  async stop(options: { keep: boolean; graceMs?: number }): Promise<void> {
    this.stopping = true;
    const live = [...this.children.values()].filter((c) => c.exitCode === null && c.signalCode === null);
    const exited = live.map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())));
    for (const c of live) c.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(exited), new Promise<void>((resolve) => (timer = setTimeout(resolve, options.graceMs ?? 30_000)))]);
    clearTimeout(timer);
    this.killAllSync();
    process.off('exit', this.onExit);
    if (!options.keep) await this.removeFiles();
  }

  private async removeFiles(): Promise<void> {
    // The trees are the PostgreSQL user's: removed as that user (user-files.ts says why), then each fence's directory.
    const user = await resolveOsUser();
    if (this.createdDir) {
      await removeTreeForUser(this.dir, user);
    } else {
      for (const m of this.members) {
        await removeTreeForUser(m.base, user);
        await fs.rm(m.agentDir, { recursive: true, force: true });
      }
    }
    for (const m of this.members) await fs.rm(defaultFenceDir(m.dataDir), { recursive: true, force: true });
  }

  /** Last resort (also on an unexpected exit of the demo): SIGKILL agents and postmasters. */
  private killAllSync(): void {
    for (const c of this.children.values()) {
      if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    for (const m of this.members) {
      try {
        const pid = Number(readFileSync(path.join(m.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
        // A stale pid file may name a recycled pid, even another cluster's postmaster: only kill the
        // process that runs in this member's data directory (a postmaster's working directory).
        if (Number.isInteger(pid) && pid > 0 && readlinkSync(`/proc/${pid}/cwd`) === path.resolve(m.dataDir)) process.kill(pid, 'SIGKILL');
      } catch {
        // no postmaster
      }
    }
  }
}

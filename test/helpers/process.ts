// Child processes started by tests: a registry that kills every one of them (by pid, SIGKILL,
// after SIGCONT for stopped ones) in `after` — and on exit of the test process — even when a test
// fails, plus the recent output of each for failure messages.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** stdout+stderr (the last 4 MiB). */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process ended. */
  readonly exited: Promise<number | string>;
  readonly hasExited: boolean;
  /** How it ended ('exit code 1', 'signal SIGKILL'), or null while it runs: for failure messages. */
  readonly exitNote: string | null;
  signal(sig: NodeJS.Signals): void;
}

// Long e2e runs need the whole story of an agent in a failure message; a few MiB per process is cheap.
const MAX_OUTPUT = 4 * 1024 * 1024;

export class ProcessRegistry {
  private readonly procs = new Set<ManagedProcess>();
  private readonly onExit = () => this.killAllSync();

  constructor() {
    process.once('exit', this.onExit);
  }

  spawn(name: string, command: string, args: string[], options: SpawnOptions = {}): ManagedProcess {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    if (child.pid === undefined) throw new Error(`could not spawn ${command}`);
    let out = '';
    let exitedFlag = false;
    let exitNote: string | null = null;
    const append = (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.length > MAX_OUTPUT) out = out.slice(out.length - MAX_OUTPUT);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, sig) => {
        exitedFlag = true;
        exitNote = code !== null ? `exit code ${code}` : `signal ${sig ?? 'unknown'}`;
        resolve(code ?? sig ?? 'unknown');
      });
    });
    const proc: ManagedProcess = {
      name,
      child,
      pid: child.pid,
      output: () => out,
      exited,
      get hasExited() {
        return exitedFlag;
      },
      get exitNote() {
        return exitNote;
      },
      signal: (sig) => {
        if (!exitedFlag) child.kill(sig);
      },
    };
    this.procs.add(proc);
    void exited.then(() => this.procs.delete(proc));
    return proc;
  }

  get running(): ManagedProcess[] {
    return [...this.procs].filter((p) => !p.hasExited);
  }

  /** SIGKILL every live process we started and wait (bounded) for them to go. */
  async killAll(timeoutMs = 5_000): Promise<void> {
    const live = this.running;
    this.killAllSync();
    await Promise.race([Promise.all(live.map((p) => p.exited)), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  private killAllSync(): void {
    for (const p of this.procs) {
      if (p.hasExited) continue;
      try {
        process.kill(p.pid, 'SIGCONT');
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  dispose(): void {
    process.off('exit', this.onExit);
  }
}

/**
 * Pids of the processes whose working directory is `dir` (PostgreSQL's postmaster and backends
 * run in their data directory), read from /proc: the observable "this server is gone".
 */
/**
 * Whether `pid` is a live process whose working directory is `dir` (a postmaster's and its backends'
 * is their data directory). A pid read from a file of a process that has died is no evidence: this
 * machine's pid_max is 32768 and a suite run starts tens of thousands of processes, so the kernel
 * hands the same number to another test's agent or server within minutes.
 */
export function runsIn(pid: number, dir: string): boolean {
  try {
    return readlinkSync(`/proc/${pid}/cwd`) === path.resolve(dir);
  } catch {
    // Gone, a zombie (no cwd any more), or not ours to inspect: not a process of `dir`.
    return false;
  }
}

/**
 * Whether the process that had `pid` while running in `dir` is gone for good: no such pid, or the pid
 * now belongs to another live process (reused). A zombie not reaped yet is not gone: PostgreSQL
 * refuses to start while the pid in a stale postmaster.pid still exists.
 */
export function goneFrom(pid: number, dir: string): boolean {
  if (pidGone(pid)) return true;
  let state = '';
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '';
  } catch {
    return true;
  }
  return state !== 'Z' && !runsIn(pid, dir);
}

export function processesIn(dir: string): number[] {
  const target = path.resolve(dir);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) === target) pids.push(Number(entry));
    } catch {
      // Exited meanwhile, or not ours to inspect: either way not a process of `dir` we can wait for.
    }
  }
  return pids;
}

/**
 * Pids of the processes (other than this one) with an argument naming `dir` or a path under it: what
 * a SIGKILLed agent leaves running, such as a pg_basebackup writing into a clone directory or a
 * pg_rewind. They outlive their agent (nothing kills an orphan), so a cluster's teardown must stop
 * them before removing the directory, or they write into it while it is removed (ENOTEMPTY, left behind).
 */
export function processesNaming(dir: string): number[] {
  const target = path.resolve(dir);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args.some((arg) => arg === target || arg.includes(`${target}/`))) pids.push(Number(entry));
    } catch {
      // Exited meanwhile, or not ours to inspect: either way nothing left to stop.
    }
  }
  return pids;
}

/** The last `lines` lines of a text file, or a note saying why there are none (for failure messages). */
export function tailOf(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(no ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
}

/**
 * Whether no process has this pid any more, not even a zombie nobody reaped yet: PostgreSQL refuses to
 * start while the pid in a stale postmaster.pid still exists ("Is another postmaster running?").
 */
export function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

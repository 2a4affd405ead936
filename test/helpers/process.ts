// Child processes started by tests: a registry that kills every one of them (by pid, SIGKILL,
// after SIGCONT for stopped ones) in `after` — and on exit of the test process — even when a test
// fails, plus the recent output of each for failure messages.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Last ~64 KiB of stdout+stderr. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process ended. */
  readonly exited: Promise<number | string>;
  readonly hasExited: boolean;
  signal(sig: NodeJS.Signals): void;
}

const MAX_OUTPUT = 64 * 1024;

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
    const append = (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.length > MAX_OUTPUT) out = out.slice(out.length - MAX_OUTPUT);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, sig) => {
        exitedFlag = true;
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

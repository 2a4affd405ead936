// The one way hactl spawns PostgreSQL binaries (and hook commands): as the unprivileged OS user when we are
// root, with a clean environment (cleanEnv says what it strips and why), output split into lines for progress
// callbacks, a timeout, and a PostgresCommandFailed that carries the stderr tail with passwords redacted.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { PostgresCommandFailed } from './errors.js';
import type { PgBinaryName, PgContext, PgOsUser } from './types.js';

export interface RunOptions {
  /** Run as this user (uid/gid switch when `switchUser`); ourselves when absent. */
  user?: PgOsUser;
  /** Added to the cleaned environment (may set PG* variables such as PGPASSFILE). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
  /** Written to stdin, which is then closed. */
  input?: string;
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
  /** Strings (passwords) replaced by *** in the error message and stderr tail. */
  secrets?: string[];
  /** Resolve with the exit code instead of throwing on non-zero (the caller interprets it). */
  allowNonZeroExit?: boolean;
  signal?: AbortSignal;
  /**
   * The command and whatever it starts form one process group (callbacks, as Patroni's
   * CancellableSubprocess): an abort or a timeout kills the whole group, and so does the command's
   * own exit (children it left behind), so a killed callback leaves no script running.
   */
  processGroup?: boolean;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * Variables a child never inherits from the agent:
 * - PG*: a stray PGHOST/PGPASSWORD in the agent's environment must never redirect pg_basebackup or pg_rewind;
 * - HACTL_* and PATRONI_*: the config overrides carry the Raft, REST and role passwords, and every backend
 *   inherits the postmaster's environment, so any superuser could read them with `COPY … PROGRAM 'env'`;
 * - NODE_OPTIONS: meant for the agent's own Node, it would load code into any Node a hook starts.
 */
function inheritable(key: string): boolean {
  return !(key.startsWith('PG') || key.startsWith('HACTL_') || key.startsWith('PATRONI_') || key === 'NODE_OPTIONS');
}

/**
 * The postmaster keeps the OOM protection the agent runs with (systemd OOMScoreAdjust=-1000 in
 * examples/hactl.service), but each backend it forks writes PG_OOM_ADJUST_VALUE to PG_OOM_ADJUST_FILE
 * (PostgreSQL's fork_process): one runaway query is then what the kernel kills, not the postmaster. An
 * operator's own values in the agent's environment win over these defaults.
 */
export const OOM_ADJUST_DEFAULTS = { PG_OOM_ADJUST_FILE: '/proc/self/oom_score_adj', PG_OOM_ADJUST_VALUE: '0' } as const;

/** The environment for a child: ours minus what `inheritable` drops, the OOM settings, HOME/USER/LOGNAME of the target user, then `extra`. */
export function cleanEnv(user: PgOsUser | undefined, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (inheritable(key)) env[key] = value;
  }
  for (const [key, fallback] of Object.entries(OOM_ADJUST_DEFAULTS)) env[key] = process.env[key] || fallback;
  if (user?.switchUser) {
    env.HOME = user.home;
    env.USER = user.name;
    env.LOGNAME = user.name;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** SIGKILL to every process of the group `pid` leads; an empty group (ESRCH) is the goal reached. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

function spawnOptions(user: PgOsUser | undefined, env: NodeJS.ProcessEnv, cwd: string | undefined) {
  // Our cwd (e.g. /root) may not be readable by the target user; several binaries complain about that.
  const dir = cwd ?? (user?.switchUser ? (existsSync(user.home) ? user.home : '/') : undefined);
  return {
    env,
    cwd: dir,
    ...(user?.switchUser ? { uid: user.uid, gid: user.gid } : {}),
  };
}

function shellQuoteForDisplay(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function formatCommand(binary: string, args: readonly string[]): string {
  return [binary, ...args].map(shellQuoteForDisplay).join(' ');
}

function lineSplitter(onLine: ((line: string) => void) | undefined) {
  let pending = '';
  return {
    push(chunk: string) {
      if (!onLine) return;
      pending += chunk;
      // pg_basebackup -P ends progress lines with \r; treat it as a line end too.
      const parts = pending.split(/\r\n|\r|\n/);
      pending = parts.pop() ?? '';
      for (const part of parts) onLine(part);
    },
    end() {
      if (onLine && pending !== '') onLine(pending);
      pending = '';
    },
  };
}

/**
 * Runs `binary args...` to completion. Resolves {stdout, stderr, code}; throws PostgresCommandFailed on a
 * non-zero exit, a signal or a timeout (the child is SIGKILLed on timeout).
 */
export function run(binary: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const command = formatCommand(binary, args);
  return new Promise<RunResult>((resolve, reject) => {
    let child: ChildProcess;
    const group = options.processGroup === true;
    try {
      child = spawn(binary, args, {
        ...spawnOptions(options.user, cleanEnv(options.user, options.env), options.cwd),
        stdio: ['pipe', 'pipe', 'pipe'],
        // A group is aborted by killing the group (below), not just its leader.
        ...(group ? { detached: true } : { signal: options.signal }),
      });
    } catch (err) {
      reject(new PostgresCommandFailed({ command, exitCode: null, stderr: (err as Error).message, secrets: options.secrets }));
      return;
    }
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let spawnError: Error | null = null;
    const out = lineSplitter(options.onStdoutLine);
    const err = lineSplitter(options.onStderrLine);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      out.push(chunk);
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      err.push(chunk);
    });
    child.stdin!.on('error', () => {
      // the child may exit without reading stdin (EPIPE); its exit code tells what happened
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
    else child.stdin!.end();
    const kill = () => (group ? killGroup(child.pid) : child.kill('SIGKILL'));
    const timer =
      options.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            kill();
          }, options.timeoutMs)
        : null;
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      kill();
    };
    if (group) {
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
      // Children left behind hold our pipes open ('close' would wait for them): the group goes with its leader.
      child.on('exit', () => killGroup(child.pid));
    }
    child.on('error', (e) => {
      spawnError = e;
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (aborted && !spawnError) spawnError = new Error('aborted');
      out.end();
      err.end();
      if (spawnError) {
        reject(new PostgresCommandFailed({ command, exitCode: null, stderr: `${stderr}\n${spawnError.message}`, secrets: options.secrets }));
        return;
      }
      if (timedOut || signal || (code !== 0 && !options.allowNonZeroExit)) {
        reject(
          new PostgresCommandFailed({
            command,
            exitCode: code,
            signal: timedOut ? null : signal,
            stderr: stderr || stdout,
            timedOut,
            timeoutMs: options.timeoutMs,
            secrets: options.secrets,
          }),
        );
        return;
      }
      resolve({ stdout, stderr, code: code ?? 0 });
    });
  });
}

/** Runs a PostgreSQL binary of the context as the context's OS user. */
export function runPg(ctx: PgContext, name: PgBinaryName, args: readonly string[], options: Omit<RunOptions, 'user'> = {}): Promise<RunResult> {
  return run(ctx.binaries.path(name), args, { ...options, user: ctx.user });
}

/** Runs a shell command line (hooks such as post_bootstrap, callbacks) as the OS user; extra args become $1... */
export function runShell(ctx: PgContext, commandLine: string, args: readonly string[], options: Omit<RunOptions, 'user'> = {}): Promise<RunResult> {
  const positional = args.map((_, i) => `"$${i + 1}"`).join(' ');
  return run('/bin/sh', ['-c', `${commandLine} ${positional}`.trim(), 'hactl-hook', ...args], { ...options, user: ctx.user });
}

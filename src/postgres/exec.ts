// The one way hactl spawns PostgreSQL binaries (and hook commands): as the unprivileged OS user when we are
// root, with a clean environment (no PG* variables we did not set, so a stray PGHOST/PGPASSWORD in the
// agent's environment never redirects pg_basebackup or pg_rewind), output split into lines for progress
// callbacks, a timeout, and a PostgresCommandFailed that carries the stderr tail with passwords redacted.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
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
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** The environment for a child: ours minus PG* variables, HOME/USER/LOGNAME of the target user, then `extra`. */
export function cleanEnv(user: PgOsUser | undefined, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('PG')) continue;
    env[key] = value;
  }
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
    try {
      child = spawn(binary, args, {
        ...spawnOptions(options.user, cleanEnv(options.user, options.env), options.cwd),
        stdio: ['pipe', 'pipe', 'pipe'],
        signal: options.signal,
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
    const timer =
      options.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs)
        : null;
    child.on('error', (e) => {
      spawnError = e;
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
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

export interface DetachedOptions {
  user?: PgOsUser;
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** stdout and stderr are appended here; ignored when absent. */
  logFile?: string;
}

/**
 * Starts a long-running process (e.g. `postgres` itself, or a custom replica command) detached from our
 * process group so it survives the agent; returns its pid. The caller tracks it (postmaster.pid for servers).
 */
export function spawnDetached(binary: string, args: readonly string[], options: DetachedOptions = {}): number {
  const fd = options.logFile ? openSync(options.logFile, 'a', 0o600) : null;
  try {
    const child = spawn(binary, args, {
      ...spawnOptions(options.user, cleanEnv(options.user, options.env), options.cwd),
      detached: true,
      stdio: ['ignore', fd ?? 'ignore', fd ?? 'ignore'],
    });
    child.unref();
    if (child.pid === undefined) throw new PostgresCommandFailed({ command: formatCommand(binary, args), exitCode: null, stderr: 'spawn failed' });
    return child.pid;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

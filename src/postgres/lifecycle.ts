// Start / stop / restart / reload through pg_ctl, and process state from postmaster.pid. Per-node settings
// (port, listen_addresses, config_file) also go on the postmaster command line, as Patroni does, so a config
// file copied from another node by pg_basebackup or pg_rewind can never make us listen on its port.
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { postmasterOptions } from './conf.js';
import { configDirOf, logFileOf, parseListen, pgCtlTimeoutMs, socketDirOf } from './context.js';
import { withConnection, waitUntilReady } from './connection.js';
import { PortInUse, PostgresCommandFailed, tailLines } from './errors.js';
import { runPg } from './exec.js';
import { checkDataDir, ensureDirForUser, ensureSocketDir } from './os-user.js';
import type { PgContext } from './types.js';

export type ProcessState = 'running' | 'stopped' | 'crashed';

export interface PostmasterStatus {
  state: ProcessState;
  /** Postmaster pid from postmaster.pid (also for a crashed server: the pid that is gone). */
  pid: number | null;
  /** postmaster.pid's status line: starting, stopping, ready, standby. */
  pmStatus?: string;
  port?: number;
  startedAt?: Date;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A pid can be reused after a crash: make sure it is a postgres process before calling it our postmaster. */
async function looksLikePostgres(pid: number): Promise<boolean> {
  try {
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
    return /postgres|postmaster/.test(cmdline);
  } catch {
    return processAlive(pid); // no /proc (not Linux): trust kill(0)
  }
}

/** Reads postmaster.pid: 'stopped' without it, 'crashed' when its process is gone (stale file), else 'running'. */
export async function getStatus(ctx: PgContext): Promise<PostmasterStatus> {
  let text: string;
  try {
    text = await fs.readFile(path.join(ctx.options.data_dir, 'postmaster.pid'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'stopped', pid: null };
    throw err;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return { state: 'crashed', pid: null };
  const alive = processAlive(pid) && (await looksLikePostgres(pid));
  return {
    state: alive ? 'running' : 'crashed',
    pid,
    pmStatus: lines[7]?.trim() || undefined,
    port: lines[3] ? Number(lines[3]) : undefined,
    startedAt: lines[2] ? new Date(Number(lines[2]) * 1000) : undefined,
  };
}

export async function isRunning(ctx: PgContext): Promise<boolean> {
  return (await getStatus(ctx)).state === 'running';
}

/** Throws PortInUse when something already listens on one of our listen addresses. */
export async function checkPortFree(hosts: string[], port: number): Promise<void> {
  for (const raw of hosts) {
    const host = raw === '*' ? '0.0.0.0' : raw === 'localhost' ? '127.0.0.1' : raw;
    await new Promise<void>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') reject(new PortInUse(raw, port));
        else resolve(); // e.g. EADDRNOTAVAIL: postgres will report it with its own words
      });
      server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
    });
  }
}

async function readLogTail(ctx: PgContext): Promise<string> {
  try {
    const text = await fs.readFile(logFileOf(ctx.options), 'utf8');
    return tailLines(text.slice(-20_000));
  } catch {
    return '';
  }
}

export interface StartOptions {
  /** Wait until the server accepts connections (pg_ctl -w, then a real connection). Default true. */
  wait?: boolean;
  timeoutMs?: number;
  /** Extra `-c name=value` settings for this start only. */
  settings?: Record<string, string>;
}

/** The per-node settings passed on the postmaster command line. */
export function commandLineSettings(ctx: PgContext, extra: Record<string, string> = {}): Record<string, string> {
  const { hosts, port } = parseListen(ctx.options.listen);
  const settings: Record<string, string> = { port: String(port), listen_addresses: hosts.join(',') };
  const configDir = configDirOf(ctx.options);
  if (configDir !== ctx.options.data_dir) settings.config_file = path.join(configDir, 'postgresql.conf');
  return { ...settings, ...extra };
}

/**
 * Starts the server with pg_ctl. A running server is left alone (returns false). Throws PortInUse when the
 * port is taken (checked before, and recognised in the server log after a failed start), else
 * PostgresCommandFailed with pg_ctl's output and the tail of the server log.
 */
export async function start(ctx: PgContext, options: StartOptions = {}): Promise<boolean> {
  if (await isRunning(ctx)) return false;
  const timeoutMs = options.timeoutMs ?? pgCtlTimeoutMs(ctx.options);
  await checkDataDir(ctx.options.data_dir, ctx.user);
  const { hosts, port } = parseListen(ctx.options.listen);
  await checkPortFree(hosts, port);
  await ensureSocketDir(socketDirOf(ctx.options), ctx.user);
  const logFile = logFileOf(ctx.options);
  await ensureDirForUser(path.dirname(logFile), ctx.user, 0o700);
  const wait = options.wait ?? true;
  const args = [
    'start',
    '-D', ctx.options.data_dir,
    '-l', logFile,
    wait ? '-w' : '-W',
    '-t', String(Math.max(1, Math.ceil(timeoutMs / 1000))),
    '-o', postmasterOptions(commandLineSettings(ctx, options.settings)),
  ];
  const began = Date.now();
  try {
    await runPg(ctx, 'pg_ctl', args, { timeoutMs: timeoutMs + 5000 });
  } catch (err) {
    if (!(err instanceof PostgresCommandFailed)) throw err;
    const log = await readLogTail(ctx);
    if (/could not bind|Address already in use|lock file ".*\.s\.PGSQL\.\d+\.lock" already exists/.test(log)) {
      throw new PortInUse(hosts.join(','), port);
    }
    throw new PostgresCommandFailed({
      command: err.command,
      exitCode: err.exitCode,
      signal: err.signal,
      stderr: `${err.stderrTail}\n${log}`,
      timedOut: err.timedOut,
      timeoutMs,
    });
  }
  if (wait) await waitUntilReady(ctx, Math.max(1000, timeoutMs - (Date.now() - began)));
  return true;
}

export type StopMode = 'smart' | 'fast' | 'immediate';
const ESCALATION: StopMode[] = ['smart', 'fast', 'immediate'];

export interface StopOptions {
  mode?: StopMode;
  /** Per-mode wait before escalating to the next mode. */
  timeoutMs?: number;
  /** Escalate smart → fast → immediate when a mode does not finish in time. Default true. */
  escalate?: boolean;
}

export interface StopResult {
  wasRunning: boolean;
  /** The mode that finally stopped the server. */
  mode: StopMode | null;
}

/** Stops the server; a stopped or crashed server is fine (wasRunning false). */
export async function stop(ctx: PgContext, options: StopOptions = {}): Promise<StopResult> {
  const status = await getStatus(ctx);
  if (status.state !== 'running') return { wasRunning: false, mode: null };
  const timeoutMs = options.timeoutMs ?? pgCtlTimeoutMs(ctx.options);
  const first = options.mode ?? 'fast';
  const modes = options.escalate === false ? [first] : ESCALATION.slice(ESCALATION.indexOf(first));
  let lastError: unknown = null;
  for (const mode of modes) {
    try {
      await runPg(ctx, 'pg_ctl', ['stop', '-D', ctx.options.data_dir, '-m', mode, '-w', '-t', String(Math.max(1, Math.ceil(timeoutMs / 1000)))], {
        timeoutMs: timeoutMs + 5000,
      });
      return { wasRunning: true, mode };
    } catch (err) {
      if (!(await isRunning(ctx))) return { wasRunning: true, mode };
      lastError = err;
    }
  }
  throw lastError;
}

export async function restart(ctx: PgContext, options: { stop?: StopOptions; start?: StartOptions } = {}): Promise<void> {
  await stop(ctx, options.stop);
  await start(ctx, options.start);
}

/** Sends SIGHUP through pg_ctl reload (re-reads postgresql.conf, pg_hba.conf). */
export async function reload(ctx: PgContext): Promise<void> {
  await runPg(ctx, 'pg_ctl', ['reload', '-D', ctx.options.data_dir], { timeoutMs: 15_000 });
}

/** Settings the running server has read but cannot apply until restarted (pg_settings.pending_restart). */
export async function pendingRestart(ctx: PgContext): Promise<string[]> {
  return withConnection(ctx, async (client) => {
    const res = await client.query<{ name: string }>('SELECT name FROM pg_catalog.pg_settings WHERE pending_restart ORDER BY name');
    return res.rows.map((r) => r.name);
  });
}

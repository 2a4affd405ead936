// Start / stop / restart / reload through pg_ctl, and process state from postmaster.pid. Per-node settings
// (port, listen_addresses, config_file) also go on the postmaster command line, as Patroni does, so a config
// file copied from another node by pg_basebackup or pg_rewind can never make us listen on its port.
import { promises as fs, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type pg from 'pg';
import { postmasterOptions, RECOVERY_PARAMETERS } from './conf.js';
import { configDirOf, logFileOf, parseListen, pgCtlTimeoutMs, socketDirOf } from './context.js';
import { withConnection, waitUntilReady } from './connection.js';
import { PortInUse, PostgresCommandFailed, tailLines } from './errors.js';
import { runPg } from './exec.js';
import { checkDataDir, ensureDirForUser, ensureSocketDir } from './os-user.js';
import { readUserFile } from './user-files.js';
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

/**
 * A pid can be reused after a crash: make sure it is our postmaster before calling it running. Where
 * /proc shows its working directory, that must be the data directory (the postmaster runs in it), so
 * another cluster's postmaster that got the pid is not taken for ours, nor killed as ours; otherwise
 * (no permission to look, not Linux) a postgres command line, or kill(0).
 */
async function looksLikeOurPostmaster(pid: number, dataDir: string): Promise<boolean> {
  try {
    const [cwd, home] = await Promise.all([fs.readlink(`/proc/${pid}/cwd`), fs.realpath(dataDir).catch(() => path.resolve(dataDir))]);
    return cwd === home;
  } catch {
    // Gone, or not ours to look at (EACCES): the command line below decides.
  }
  try {
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
    return /postgres|postmaster/.test(cmdline);
  } catch {
    return processAlive(pid); // no /proc (not Linux): trust kill(0)
  }
}

/** Reads postmaster.pid: 'stopped' without it, 'crashed' when its process is gone (stale file), else 'running'. */
export async function getStatus(ctx: PgContext): Promise<PostmasterStatus> {
  // The data directory is the OS user's: read without following a link it may have planted (user-files.ts).
  const text = await readUserFile(path.join(ctx.options.data_dir, 'postmaster.pid'), ctx.user);
  if (text === null) return { state: 'stopped', pid: null };
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return { state: 'crashed', pid: null };
  const alive = processAlive(pid) && (await looksLikeOurPostmaster(pid, ctx.options.data_dir));
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
    // Quoted into error messages: a link planted at the log's name must not make root read another file.
    const text = (await readUserFile(logFileOf(ctx.options), ctx.user)) ?? '';
    return tailLines(text.slice(-20_000));
  } catch {
    // The log is only quoted into an error message: an unreadable one is left out.
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

/** The longest a start after a crash waits for the dead server's processes to be gone. */
const DEAD_SERVER_WAIT_MS = 15_000;

/** Pids whose working directory is `dir`: a postmaster and all its backends run in the data directory. */
function processesIn(dir: string): number[] {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) === real) pids.push(Number(entry));
    } catch {
      // Exited meanwhile, a zombie (its cwd is released), or not ours to read: not a live server process here.
    }
  }
  return pids;
}

/**
 * A crashed server's leftovers block a new start: its orphaned backends hold the shared memory until they
 * notice the postmaster died ("pre-existing shared memory block is still in use"), and its pid, until
 * reaped, makes the lock file look owned ("Is another postmaster running?"). On a loaded host that lasts
 * seconds, and since a failed start in place now gives the leader key up (Patroni's post_recover), the
 * start waits for them, bounded; still there after `waitMs`, it goes on and PostgreSQL says why it fails.
 */
async function waitForDeadServer(dataDir: string, deadPid: number | null, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  while ((deadPid !== null && processAlive(deadPid)) || processesIn(dataDir).length > 0) {
    if (Date.now() >= deadline) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts the server with pg_ctl. A running server is left alone (returns false). Throws PortInUse when the
 * port is taken (checked before, and recognised in the server log after a failed start), else
 * PostgresCommandFailed with pg_ctl's output and the tail of the server log.
 */
export async function start(ctx: PgContext, options: StartOptions = {}): Promise<boolean> {
  // The data directory first: its errors say more than what reading postmaster.pid there would run into.
  await checkDataDir(ctx.options.data_dir, ctx.user);
  const status = await getStatus(ctx);
  if (status.state === 'running') return false;
  const timeoutMs = options.timeoutMs ?? pgCtlTimeoutMs(ctx.options);
  if (status.state === 'crashed') await waitForDeadServer(ctx.options.data_dir, status.pid, Math.min(timeoutMs, DEAD_SERVER_WAIT_MS));
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
  /**
   * When the last mode did not stop it in time either: SIGKILL the postmaster and its children instead
   * of failing (Patroni's primary_stop_timeout, for a primary whose shutdown waits on a stuck standby).
   */
  killAfterTimeout?: boolean;
}

export interface StopResult {
  wasRunning: boolean;
  /** The mode that finally stopped the server (the last one tried when it had to be killed). */
  mode: StopMode | null;
  /** It did not stop in time and was killed with SIGKILL (killAfterTimeout). */
  killed: boolean;
}

/**
 * How often a stop looks whether the postmaster is gone. `pg_ctl stop -w` looks every 100 ms, so it
 * returned up to 100 ms after the server was down, and in a switchover all of that is write downtime:
 * pg_ctl only signals (-W), and the wait below does what its wait did (the pid file is gone, or its
 * process is) ten times as often.
 */
const STOP_POLL_MS = 10;

/**
 * True once the postmaster is gone; false when it still runs after `timeoutMs`. Gone means its process
 * has exited too, not only its pid file: the postmaster unlinks postmaster.pid on its way out and runs on
 * for a few milliseconds (longer on a loaded host), and a fence asked to stand down right after the stop
 * saw it still there and refused.
 */
async function waitForStop(ctx: PgContext, postmasterPid: number | null, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await getStatus(ctx)).state !== 'running' && (postmasterPid === null || exited(postmasterPid))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, STOP_POLL_MS));
  }
}

/** Stops the server; a stopped or crashed server is fine (wasRunning false). */
export async function stop(ctx: PgContext, options: StopOptions = {}): Promise<StopResult> {
  const status = await getStatus(ctx);
  if (status.state !== 'running') return { wasRunning: false, mode: null, killed: false };
  const timeoutMs = options.timeoutMs ?? pgCtlTimeoutMs(ctx.options);
  const first = options.mode ?? 'fast';
  const modes = options.escalate === false ? [first] : ESCALATION.slice(ESCALATION.indexOf(first));
  let lastError: unknown = null;
  for (const mode of modes) {
    try {
      await runPg(ctx, 'pg_ctl', ['stop', '-D', ctx.options.data_dir, '-m', mode, '-W'], { timeoutMs: 15_000 });
    } catch (err) {
      // pg_ctl refuses a server that stopped meanwhile ("PID file does not exist"): that is a stop too.
      if (!(await isRunning(ctx))) return { wasRunning: true, mode, killed: false };
      lastError = err;
      continue;
    }
    if (await waitForStop(ctx, status.pid, timeoutMs)) return { wasRunning: true, mode, killed: false };
    lastError = new PostgresCommandFailed({ command: `pg_ctl stop -m ${mode}`, exitCode: null, stderr: `server does not shut down within ${Math.round(timeoutMs / 1000)} s`, timedOut: true, timeoutMs });
  }
  const still = await getStatus(ctx);
  if (options.killAfterTimeout && still.state === 'running' && still.pid !== null) {
    await killPostmaster(still.pid, timeoutMs);
    return { wasRunning: true, mode: modes.at(-1)!, killed: true };
  }
  throw lastError;
}

/** Parent pid and state letter from /proc/<pid>/stat; null when the process is gone. */
function procStat(pid: number): { ppid: number; state: string } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces or parentheses itself.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', ppid: Number(fields[1]) };
}

/** Gone, or a zombie waiting to be reaped (it holds nothing any more). */
function exited(pid: number): boolean {
  const stat = procStat(pid);
  return stat === null || stat.state === 'Z';
}

/**
 * SIGKILL for a postmaster that did not stop, as Patroni's signal_kill: stopped first (SIGSTOP), so it
 * starts no new child meanwhile, then killed with its children (a backend left behind would hold the
 * shared memory and make the next start fail). Throws when they are not gone within `waitMs`.
 */
export async function killPostmaster(pid: number, waitMs: number): Promise<void> {
  const signal = (target: number, sig: NodeJS.Signals) => {
    try {
      process.kill(target, sig);
    } catch (err) {
      // ESRCH: already gone, which is what we want.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  };
  signal(pid, 'SIGSTOP');
  const children = readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((p) => procStat(p)?.ppid === pid);
  signal(pid, 'SIGKILL');
  for (const child of children) signal(child, 'SIGKILL');
  const deadline = Date.now() + Math.max(waitMs, 1000);
  while (![pid, ...children].every(exited)) {
    if (Date.now() > deadline) throw new Error(`postmaster ${pid} or one of its children did not exit after SIGKILL within ${Math.max(waitMs, 1000)} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function restart(ctx: PgContext, options: { stop?: StopOptions; start?: StartOptions } = {}): Promise<void> {
  await stop(ctx, options.stop);
  await start(ctx, options.start);
}

/** Sends SIGHUP through pg_ctl reload (re-reads postgresql.conf, pg_hba.conf). */
export async function reload(ctx: PgContext): Promise<void> {
  await runPg(ctx, 'pg_ctl', ['reload', '-D', ctx.options.data_dir], { timeoutMs: 15_000 });
}

/**
 * Settings the running server has read but cannot apply until restarted (pg_settings.pending_restart),
 * without the recovery settings, as Patroni's reload_config leaves them out: a promoted standby's
 * rewritten configuration drops recovery_target_timeline, which PostgreSQL then flags as pending a
 * restart ("cannot be changed without restarting the server") although only recovery reads it — every
 * new primary showed "Pending restart" after a failover or switchover.
 */
export async function queryPendingRestart(client: pg.Client): Promise<string[]> {
  const res = await client.query<{ name: string }>(
    'SELECT name FROM pg_catalog.pg_settings WHERE pending_restart AND pg_catalog.lower(name) <> ALL($1::text[]) ORDER BY name',
    [RECOVERY_PARAMETERS],
  );
  return res.rows.map((r) => r.name);
}

/** queryPendingRestart on a connection of its own. */
export async function pendingRestart(ctx: PgContext): Promise<string[]> {
  return withConnection(ctx, queryPendingRestart);
}

/**
 * Which processes run in a data directory, read from /proc: the one observation the fence stands
 * down on (issue 13 item 4) and that a certain death rests on (issue 17).
 *
 * A postmaster chdirs into its data directory, and every backend and auxiliary process it forks
 * inherits that working directory, so "no process whose cwd is the data directory" covers the
 * postmaster, backends that outlive a killed postmaster, and a `postgres --single`. postmaster.pid
 * is checked as well: a pid it names that is alive and sits in the data directory is a postmaster.
 *
 * The answer is POSITIVE only: `nothingRuns` is true when every process could be inspected and none
 * is in the data directory. A process we may not inspect (another user's, when the agent is not
 * root) that belongs to the data directory's owner, or a /proc we cannot list, makes the answer
 * "unknown" — never "stopped". What the data directory's contents say (pg_control) plays no part:
 * an unreadable pg_control is no evidence that nothing runs.
 *
 * Synchronous, node: builtins and fence-files.ts only: the fence process imports it (fence-process.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { readFileNoFollow } from './fence-files.js';

export interface DataDirProcesses {
  /** Live processes whose working directory is the data directory (postmaster, backends, auxiliaries). */
  pids: number[];
  /** A live process named by postmaster.pid in the data directory (also in `pids` when inspectable). */
  postmasterPid: number | null;
  /** Why the observation is incomplete (a process we could not inspect, /proc unreadable); null when complete. */
  unknown: string | null;
}

/** The data directory's real path ("/proc/N/cwd" reads resolved); the path as given when it cannot be resolved. */
export function realDataDir(dataDir: string): string {
  try {
    return fs.realpathSync(dataDir);
  } catch {
    // Gone, or a component we may not search: compare the absolute path as given.
    return path.resolve(dataDir);
  }
}

/** The pid in postmaster.pid's first line (never through a link or a FIFO: fence-files.ts); null when none. */
export function postmasterPidFileOf(dataDir: string): number | null {
  const pid = Number(readFileNoFollow(path.join(dataDir, 'postmaster.pid')).text?.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** The state letter of /proc/<pid>/stat ('R', 'S', 'T' stopped, 'Z' zombie …), or null when there is no such process. */
export function processState(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.charAt(stat.lastIndexOf(')') + 2) || null;
  } catch {
    // No such process.
    return null;
  }
}

/** Alive and not a zombie (a killed process stays a zombie until its parent reaps it). */
export function isAlive(pid: number): boolean {
  const state = processState(pid);
  return state !== null && state !== 'Z';
}

type CwdAnswer = { kind: 'in' } | { kind: 'out' } | { kind: 'gone' } | { kind: 'hidden'; uid: number };

function cwdOf(pid: number, realDir: string): CwdAnswer {
  try {
    return fs.readlinkSync(`/proc/${pid}/cwd`) === realDir ? { kind: 'in' } : { kind: 'out' };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOENT: exited meanwhile, or a zombie (its cwd is released at exit): not running.
    if (code === 'ENOENT' || code === 'ESRCH') return { kind: 'gone' };
    try {
      return { kind: 'hidden', uid: fs.statSync(`/proc/${pid}`).uid };
    } catch {
      // Exited between the two reads.
      return { kind: 'gone' };
    }
  }
}

/** Whether `pid` is alive with its working directory in `dataDir` (a recycled pid never matches). */
export function runsIn(pid: number, dataDir: string): boolean {
  return cwdOf(pid, realDataDir(dataDir)).kind === 'in' && isAlive(pid);
}

/** Every process in `dataDir` now, and whether that answer is complete (see the file header). */
export function observeDataDir(dataDir: string): DataDirProcesses {
  const realDir = realDataDir(dataDir);
  let owner: number | null = null;
  try {
    owner = fs.statSync(dataDir).uid;
  } catch {
    // Gone or not searchable: any process we cannot inspect then counts as unknown (owner null).
  }
  const pids: number[] = [];
  const hidden: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch (err) {
    return { pids, postmasterPid: null, unknown: `cannot list /proc: ${(err as Error).message}` };
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const answer = cwdOf(pid, realDir);
    if (answer.kind === 'in') {
      if (isAlive(pid)) pids.push(pid);
    } else if (answer.kind === 'hidden' && (owner === null || answer.uid === owner)) {
      hidden.push(pid);
    }
  }
  const named = postmasterPidFileOf(dataDir);
  let postmasterPid: number | null = null;
  if (named !== null && isAlive(named)) {
    if (pids.includes(named)) postmasterPid = named;
    else if (hidden.includes(named)) postmasterPid = named;
    // Alive elsewhere: a recycled pid from a stale postmaster.pid, not a postmaster of this directory.
  }
  const unknown = hidden.length ? `cannot inspect the working directory of process${hidden.length > 1 ? 'es' : ''} ${hidden.slice(0, 5).join(', ')} (owner of ${dataDir} or unknown)` : null;
  return { pids, postmasterPid, unknown };
}

/** The positive observation: every process inspected and none is in the data directory. */
export function nothingRuns(observed: DataDirProcesses): boolean {
  return observed.pids.length === 0 && observed.postmasterPid === null && observed.unknown === null;
}

/** One line for a log: what still runs (or why we cannot tell). */
export function describeRunning(observed: DataDirProcesses): string {
  const parts: string[] = [];
  if (observed.postmasterPid !== null) parts.push(`postmaster.pid names live process ${observed.postmasterPid}`);
  if (observed.pids.length) parts.push(`${observed.pids.length} process${observed.pids.length > 1 ? 'es' : ''} with cwd = the data directory (${observed.pids.slice(0, 8).join(', ')})`);
  if (observed.unknown) parts.push(observed.unknown);
  return parts.join('; ') || 'nothing runs';
}

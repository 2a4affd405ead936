/**
 * Finding and killing a primary in a data directory, for the fence process (fence-process.ts): the
 * postmaster is frozen first so it forks nothing new, then every child and its process group, then
 * the postmaster. Synchronous and node: builtins only (plus data-dir-processes.ts), like the fence.
 */
import fs from 'node:fs';
import { postmasterPidFileOf, runsIn } from './data-dir-processes.js';

/** Direct children of `pid`, from /proc/N/stat (field 4; the comm in parentheses may hold spaces). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    // ESRCH: it already exited, which is what the signal was for.
    return false;
  }
}

/**
 * Freeze the postmaster (no new backend can be forked), SIGKILL every child — the backends are
 * what acknowledge commits, and each is its own process group leader (PostgreSQL's
 * InitPostmasterChild calls setsid), so their groups too — then the postmaster.
 */
function killPostmaster(pid: number): number[] {
  const killed: number[] = [];
  signal(pid, 'SIGSTOP');
  for (const child of childrenOf(pid)) {
    if (signal(child, 'SIGKILL')) killed.push(child);
    signal(-child, 'SIGKILL');
  }
  if (signal(pid, 'SIGKILL')) killed.unshift(pid);
  return killed;
}

/** `postgres --single` (crash recovery before pg_rewind): no client can connect, so it acknowledges nothing. */
function isSingleUser(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--single');
  } catch {
    // The process is gone: not a single-user server.
    return false;
  }
}

export function killPrimaryIn(dataDir: string, hintPid: number | null): { postmasterPid: number | null; killed: number[] } {
  const candidates = [...new Set([postmasterPidFileOf(dataDir), hintPid].filter((p): p is number => p !== null))];
  let postmasterPid: number | null = null;
  const killed: number[] = [];
  for (const pid of candidates) {
    // A pid is our postmaster when it is alive in the data directory: a recycled pid never matches.
    if (!runsIn(pid, dataDir) || isSingleUser(pid)) continue;
    postmasterPid ??= pid;
    killed.push(...killPostmaster(pid));
  }
  return { postmasterPid, killed };
}


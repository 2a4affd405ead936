// The Jepsen-style run's disk-error nemesis and its durable-state checks (test/raft/process/jepsen.ts).
//
// EIO: every member runs with the hidden `--test-eio-file <file>` (src/raft/storage/fs.ts,
// eioSwitchFs); writing "all" or "sync" into the file makes that member's storage fail at once, and
// removing it heals it. A failed sync also drops the unsynced bytes (fsyncgate). What the issue asks
// of the member, checked after each window: either it recovered (still running and persisting again
// within a bound) or, when it was killed inside the window, its restart either loads a state no
// older than before or refuses to start, naming the damage.
//
// Term and vote: each time a member is down (kill -9 or a kill inside an EIO window), its voter file
// is read as a restart will read it; successive readings of one member must never go backwards
// (a lower term, or the same term with a vote dropped or changed: a second vote in one term), and
// the term its next incarnation logs at start must be at least the last reading.
import { rm, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { nodeFs, readVoterFile, RECOVERED_VOTE } from '../../../src/raft/storage/index.js';
import type { VoterState } from '../../../src/raft/storage/index.js';
import { sleep, waitUntil } from '../../helpers/wait.js';
import type { RaftCluster } from './cluster.js';

export type EioMode = 'all' | 'sync';

/** The control file of `addr`'s storage fault switch: beside the data dirs, never on a (full) tmpfs. */
export function eioControlFile(cluster: RaftCluster, addr: string): string {
  return `${cluster.dataDir(addr)}.eio`;
}

/** Extra arguments of every member of a run with EIO faults. */
export function eioArgs(cluster: RaftCluster, addr: string): string[] {
  return ['--test-eio-file', eioControlFile(cluster, addr)];
}

export async function startEio(cluster: RaftCluster, addr: string, mode: EioMode): Promise<void> {
  await writeFile(eioControlFile(cluster, addr), `${mode}\n`);
}

export async function stopEio(cluster: RaftCluster, addr: string): Promise<void> {
  await rm(eioControlFile(cluster, addr), { force: true });
}

/**
 * Holds an EIO window open for `ms` while polling `addr`'s status: true once the member reported
 * storage_healthy false, i.e. the fault did reach a write or sync of the running process (a member
 * with nothing to persist meanwhile would not notice it).
 */
export async function holdAndWatch(cluster: RaftCluster, addr: string, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  let failed = false;
  while (performance.now() < end) {
    if (!failed && !cluster.proc(addr).hasExited) failed = (await cluster.status(addr, 500))?.storage_healthy === false;
    await sleep(Math.max(0, Math.min(200, end - performance.now())));
  }
  return failed;
}

/**
 * After an EIO window on a member that kept running: it must persist again. The ready loop retries
 * with backoff up to 5 s, so a healthy member reports storage_healthy within a few seconds; a
 * loaded machine gets 30. Returns null when it recovered, else what was seen.
 */
export async function awaitStorageHealthy(cluster: RaftCluster, addr: string, timeoutMs = 30_000): Promise<string | null> {
  let last = 'no status';
  try {
    await waitUntil(
      async () => {
        if (cluster.proc(addr).hasExited) return 'exited';
        const s = await cluster.status(addr, 1_000);
        last = s ? `storage_healthy ${s.storage_healthy}, storage_error ${s.storage_error ?? 'none'}` : 'no status';
        return s?.storage_healthy === true ? 'healthy' : null;
      },
      { timeoutMs, intervalMs: 200, what: `${addr} to persist again after an EIO window` },
    );
    return cluster.proc(addr).hasExited ? `exited: ${cluster.proc(addr).output().slice(-600)}` : null;
  } catch (err) {
    return `${(err as Error).message}; last: ${last}`;
  }
}

/** Per member, the term and vote read from its voter file whenever it was down, checked to never go back. */
export class VoterWatch {
  private readonly last = new Map<string, VoterState>();
  checks = 0;
  readonly regressions: string[] = [];

  /** Reads `addr`'s voter file (its process must have exited) and compares it with the last reading. */
  async sampleDown(cluster: RaftCluster, addr: string, when: string): Promise<void> {
    const read = await readVoterFile(nodeFs, cluster.dataDir(addr));
    if (read.kind === 'missing') return;
    this.checks++;
    if (read.kind === 'damaged') {
      // Not a regression by itself (the member must then refuse to start), but worth seeing.
      this.regressions.push(`${addr} ${when}: voter file has no valid copy (${read.reason})`);
      return;
    }
    const now = read.state;
    const before = this.last.get(addr);
    if (before) {
      const why = regression(before, now);
      if (why) this.regressions.push(`${addr} ${when}: ${why}`);
    }
    this.last.set(addr, now);
  }

  /** The term the new incarnation of `addr` logged at start ("starting: term N") against the last reading. */
  checkLoaded(addr: string, output: string, when: string): void {
    const m = /raft: node \S+ starting: term (\d+)/.exec(output);
    const before = this.last.get(addr);
    if (!m || !before) return;
    this.checks++;
    const term = Number(m[1]);
    if (term < before.term) this.regressions.push(`${addr} ${when}: restarted at term ${term}, its voter file held term ${before.term}`);
  }
}

function regression(before: VoterState, now: VoterState): string | null {
  if (now.term < before.term) return `term went back from ${before.term} to ${now.term}`;
  if (now.term > before.term || before.vote === null || before.vote === RECOVERED_VOTE) return null;
  if (now.vote !== before.vote) return `term ${now.term}: vote went from ${before.vote} to ${now.vote ?? 'none'}`;
  return null;
}

/** The lines of a member's output that say why it would not start (for the report). */
export function refusalReason(output: string): string {
  const lines = output.trim().split('\n');
  return lines.slice(-3).join(' | ').slice(0, 600);
}

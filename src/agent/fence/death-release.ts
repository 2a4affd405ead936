/**
 * A certain death gives the leader key up at once (issue 17): the fence's side.
 *
 * When is the death of the primary certain? When the fence sees, itself, that no process has the
 * data directory as its working directory and postmaster.pid names no live postmaster
 * (data-dir-processes.ts: a positive, complete observation — a process it cannot inspect makes it
 * "unknown", never "dead"), AND nothing can bring a primary back without first seeing the key
 * released:
 * - the agent is dead (its pipe closed), so it cannot restart PostgreSQL in place; a restarted agent
 *   renews the key before it restarts a crashed primary, and that renewal changes the key's version,
 *   so the release (a compare-and-delete on the version the fence was armed with) then deletes
 *   nothing — either the release or the renewal comes first in the store's order, never both;
 * - the fence "trips" on the data directory before it releases: a postmaster that comes up there
 *   without standby.signal (a `pg_ctl start` launched before the agent died, an operator) is killed;
 * - or the fence killed PostgreSQL itself at the lease deadline.
 *
 * What is NOT certain, and keeps waiting for the lease to expire on the store's side: a frozen agent
 * or host (SIGSTOP, a VM pause: the fence is frozen too, or the agent may wake and write), a network
 * cut (the host may be alive and writing behind the cut), a dead host (nobody is left to tell), a
 * process we may not inspect. Nobody can tell those from a slow primary, so only the lease decides.
 *
 * Node builtins and data-dir-processes.ts only at load time, like fence-process.ts: the store client
 * (src/dcs/leader-release.ts) is imported later, while the fence is idle after start or at the first
 * arm (warmStoreClient, warmRelease), so that a release after a kill does not wait for it.
 */
import type { LeaderRelease } from '../../dcs/types.js';
import { describeRunning, nothingRuns, observeDataDir, type DataDirProcesses } from './data-dir-processes.js';

type Log = (level: 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL', message: string) => void;

/** How often the fence looks at the data directory while it waits for the last processes to exit. */
export const DEATH_POLL_MS = 20;

/** Waits (bounded) until nothing runs in `dataDir`; the last observation either way. */
export async function awaitNothingRuns(dataDir: string, boundMs: number): Promise<{ dead: boolean; seen: DataDirProcesses }> {
  const until = performance.now() + boundMs;
  for (;;) {
    const seen = observeDataDir(dataDir);
    if (nothingRuns(seen)) return { dead: true, seen };
    if (performance.now() >= until) return { dead: false, seen };
    await new Promise((r) => setTimeout(r, DEATH_POLL_MS));
  }
}

type ReleaseModule = typeof import('../../dcs/leader-release.js');
let loading: Promise<ReleaseModule> | null = null;

/** The store client, loaded once (and early when `warm` is called on an arm: it then costs nothing at death). */
function releaseModule(): Promise<ReleaseModule> {
  loading ??= import('../../dcs/leader-release.js');
  return loading;
}

/** Load the store client of `kind` now (the fence is idle after start): the first arm then costs nothing. */
export function warmStoreClient(kind: 'raft' | 'etcd3', log: Log): void {
  const started = performance.now();
  releaseModule()
    .then((m) => m.prepareStoreClient(kind))
    .then(() => log('INFO', `loaded the ${kind} client for a release of the leader key in ${Math.round(performance.now() - started)} ms`))
    .catch((err: unknown) => log('WARNING', `could not load the ${kind} client for a release of the leader key: ${(err as Error).message}`));
}

/** Load the store client and derive the Raft key now, so a release later waits for neither. */
export function warmRelease(release: LeaderRelease, log: Log): void {
  releaseModule()
    .then((m) => m.prepareRelease(release))
    .catch((err: unknown) => log('WARNING', `could not prepare a release of the leader key: ${(err as Error).message}`));
}

/** The claim in a log line: never the store's credentials. */
export function describeClaim(release: LeaderRelease): string {
  return release.version !== null ? `${release.key} held by ${release.holder} at version ${release.version}` : `${release.key} held by ${release.holder} on lease ${release.lease}`;
}

/**
 * Releases `release` once the data directory is seen empty within `confirmMs` (the processes of a
 * killed server exit within moments); otherwise logs what still runs and leaves the key to expire.
 * Resolves with whether the key was deleted.
 */
export async function releaseWhenDead(dataDir: string, release: LeaderRelease, why: string, options: { confirmMs: number; timeoutMs: number; log: Log }): Promise<boolean> {
  const { log } = options;
  const started = performance.now();
  const { dead, seen } = await awaitNothingRuns(dataDir, options.confirmMs);
  if (!dead) {
    log('WARNING', `not releasing the leader key (${why}): ${describeRunning(seen)}; it expires at the end of its lease`);
    return false;
  }
  let result: Awaited<ReturnType<ReleaseModule['releaseLeaderKey']>>;
  try {
    const m = await releaseModule();
    result = await m.releaseLeaderKey(release, { timeoutMs: options.timeoutMs });
  } catch (err) {
    log('ERROR', `could not release the leader key ${describeClaim(release)}: ${(err as Error).message}; it expires at the end of its lease`);
    return false;
  }
  const tookMs = (performance.now() - started).toFixed(0);
  switch (result.outcome) {
    case 'released':
      log('CRITICAL', `released the leader key ${describeClaim(release)} through ${result.via} ${tookMs} ms after ${why}: no process of this primary remains in ${dataDir}`);
      return true;
    case 'gone':
      log('WARNING', `the leader key ${describeClaim(release)} was already gone (${result.via}) ${tookMs} ms after ${why}`);
      return false;
    case 'superseded':
      log('WARNING', `did not release the leader key: it no longer holds the claim ${describeClaim(release)} (now ${result.holder ?? 'unknown'}, a newer write) — left alone`);
      return false;
    case 'unreachable':
      log('ERROR', `could not release the leader key ${describeClaim(release)}: no store member answered (${result.errors.join('; ')}); it expires at the end of its lease`);
      return false;
  }
}

/**
 * Keeping a replica on the right leader: start it as a standby, repoint a running one, and before
 * either, when decide asks, check that its data has not left the leader's timeline (a diverged
 * replica must not stream from it: the next cycle rewinds or reports instead).
 */
import type { CloneSource, StandbyTarget } from '../../postgres/index.js';
import { messageOf } from '../error-text.js';
import type { ActionContext } from './long-actions.js';

/** Keep (or make) the running replica streaming from `leader` (found at `source`); `target` is where its primary_conninfo points. */
export async function followLeader(
  x: ActionContext,
  source: CloneSource | null,
  leader: string,
  target: StandbyTarget | null,
  options: { repoint: boolean; checkDivergence: boolean },
): Promise<void> {
  if (options.checkDivergence && (await recordDivergence(x, source, leader, false))) return;
  if (!options.repoint) return;
  if (!target) {
    x.logger.warn(`cannot follow ${leader}: its member key has no conn_url`);
    return;
  }
  const result = await x.pg.follow(target);
  x.memory.upstream = leader;
  x.logger.info(`following ${leader} (${result.how})`);
}

/** Start the stopped (or crashed) server as a standby of `leader` (null: of nobody yet); `source`: where `leader` is. */
export async function startAsReplica(
  x: ActionContext,
  source: CloneSource | null,
  leader: string | null,
  target: StandbyTarget | null,
  options: { checkDivergence: boolean; crashed: boolean },
): Promise<void> {
  if (leader !== null && options.checkDivergence && (await recordDivergence(x, source, leader, options.crashed))) return;
  await x.pg.configure({ role: 'replica', primary: target });
  x.memory.upstream = target ? leader : null;
  await x.pg.start();
}

/** Checks divergence from `leader` and records the verdict; true when diverged (the caller must not stream from it). */
async function recordDivergence(x: ActionContext, source: CloneSource | null, leader: string, crashed: boolean): Promise<boolean> {
  if (!source) return false;
  try {
    const verdict = await x.pg.divergence(source, crashed);
    x.memory.self.divergence = { leader, diverged: verdict.diverged };
    if (verdict.diverged) x.logger.info(`timeline diverged from ${leader}: ${verdict.reason}`);
    return verdict.diverged;
  } catch (err) {
    // Leader not reachable yet, or state unknown: check again on a later cycle.
    x.logger.debug(`could not check divergence from ${leader}: ${messageOf(err)}`);
    return false;
  }
}

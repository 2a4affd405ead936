/**
 * Nothing to run yet: the data directory is empty (patroni-behaviour.md 4.1 step 8). A new cluster
 * is created by the one member that wins the race for `initialize`; everyone else clones from the
 * leader (or a `clonefrom` replica) once there is one.
 */
import type { Member } from '../../dcs/index.js';
import type { Ctx, DecisionDraft } from './context.js';
import { isNoFailover } from './health.js';

/** A running replica tagged `clonefrom`, the furthest ahead first (Patroni picks at random among them). */
function cloneSource(ctx: Ctx): Member | undefined {
  const position = (m: Member): bigint => m.replayedLsn ?? m.xlogLocation ?? 0n;
  return ctx.view.members
    .filter((m) => m.name !== ctx.me && m.tags.clonefrom === true && m.state === 'running' && m.role === 'replica' && m.connUrl !== null)
    .sort((a, b) => (position(b) > position(a) ? 1 : position(b) < position(a) ? -1 : a.name.localeCompare(b.name)))[0];
}

export function decideEmptyDataDir(ctx: Ctx): DecisionDraft {
  const { config } = ctx.input;
  if (ctx.iAmLeader) return { action: 'release-leader', reason: 'released leader key voluntarily as data dir empty and currently leader' };
  if (ctx.paused) return { action: 'no-action', reason: 'running with empty data directory' };
  const leader = ctx.view.leader?.name ?? null;
  if (leader === null) {
    if (ctx.view.initialize === null && !isNoFailover(config.tags) && config.canBootstrap) {
      return {
        action: 'bootstrap',
        reason: 'trying to bootstrap a new cluster',
        ifLockLost: { action: 'wait-for-initialize', reason: 'failed to acquire initialize lock', notes: [] },
      };
    }
    return { action: 'wait-for-initialize', reason: 'waiting for leader to bootstrap' };
  }
  const replica = cloneSource(ctx);
  if (replica) return { action: 'clone', from: replica.name, fromLeader: false, reason: `trying to bootstrap from replica '${replica.name}'` };
  return { action: 'clone', from: leader, fromLeader: true, reason: `trying to bootstrap from leader '${leader}'` };
}

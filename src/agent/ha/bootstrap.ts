/**
 * Nothing to run yet: the data directory is empty (docs/patroni-behaviour.md 4.1 step 6). A new cluster
 * is created by the one member that wins the race for `initialize`; everyone else clones from the
 * leader (or a `clonefrom` replica) once there is one.
 */
import type { Member } from '../../dcs/index.js';
import type { Ctx, DecisionDraft } from './context.js';
import { isNoFailover } from './candidate-facts.js';

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
  const remote = ctx.standby;
  if (leader === null) {
    if (ctx.view.initialize === null && !isNoFailover(config.tags) && config.canBootstrap) {
      const ifLockLost = { action: 'wait-for-initialize' as const, reason: 'failed to acquire initialize lock', notes: [] };
      // A standby cluster's first member copies the remote and becomes the standby leader: it must
      // never initdb a cluster of its own (that would be a writable primary unrelated to the remote).
      if (remote && remote.host === null && !remote.createReplicaMethods) {
        return { action: 'no-action', reason: 'standby_cluster has neither host nor create_replica_methods: nothing to copy the standby leader from' };
      }
      if (remote) return { action: 'bootstrap', standby: true, reason: 'trying to bootstrap a new standby leader', ifLockLost };
      return { action: 'bootstrap', reason: 'trying to bootstrap a new cluster', ifLockLost };
    }
    // Patroni's "bootstrap (without leader)": a replica method that needs no leader (a backup tool with
    // no_leader) restores the member as a replica, unless another member is initializing the cluster
    // right now (initialize key empty). The member then waits as a replica; whether it may race is the
    // HA loop's ordinary question (with failsafe_mode, a member missing from the failsafe key may not).
    // A standby cluster's member keeps waiting for its standby leader (its own method list is not read here).
    if (!remote && config.canCloneWithoutLeader === true && ctx.view.initialize !== '') {
      return { action: 'clone', from: null, fromLeader: false, reason: 'trying to bootstrap (without leader)' };
    }
    return { action: 'wait-for-initialize', reason: `waiting for ${remote ? 'standby_' : ''}leader to bootstrap` };
  }
  const replica = cloneSource(ctx);
  if (replica) return { action: 'clone', from: replica.name, fromLeader: false, reason: `trying to bootstrap from replica '${replica.name}'` };
  return { action: 'clone', from: leader, fromLeader: true, reason: `trying to bootstrap from leader '${leader}'` };
}

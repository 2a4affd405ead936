/**
 * Who may take over in synchronous mode (docs/patroni-behaviour.md 4.2, 4.4, 4.9): only the former
 * leader or a standby listed in the `sync` key, because only they are known to hold every
 * acknowledged commit (sync.ts keeps the key to that promise). With a quorum in the key, a listed
 * standby also needs that many other listed standbys to answer and not be ahead of it: of
 * |standbys| − quorum members holding each commit, at least one is then among those it compared with.
 */
import type { SyncState } from '../../dcs/index.js';
import type { Ctx } from './context.js';
import { healthOf, walPosition, type Exclusion } from './candidate-facts.js';
import { includesName } from './sync-names.js';

/** The `sync` key when synchronous mode is on and a leader has written it; null = no restriction. */
export function activeSyncState(ctx: Ctx): SyncState | null {
  const mode = ctx.input.config.synchronousMode ?? 'off';
  const sync = ctx.view.sync;
  if (mode === 'off' || sync === null || sync.leader === null) return null;
  return sync;
}

/** Whether `name` is the key's leader or one of its standbys (Patroni's SyncState.matches(name, True)). */
export function syncListed(sync: SyncState, name: string): boolean {
  return sync.leader?.toLowerCase() === name.toLowerCase() || includesName(sync.syncStandbys, name);
}

function describe(sync: SyncState): string {
  return `leader ${sync.leader}, synchronous standbys [${sync.syncStandbys.join(', ')}]${sync.quorum ? `, quorum ${sync.quorum}` : ''}`;
}

/**
 * The leader race's synchronous-mode check for this member (a replica): null when it may race,
 * else why not (the reason is also added to the notes, as Patroni logs it).
 */
export function syncRaceExclusion(ctx: Ctx): Exclusion | null {
  const sync = activeSyncState(ctx);
  if (sync === null) return null;
  if (sync.leader?.toLowerCase() === ctx.me.toLowerCase()) return null;
  if (!includesName(sync.syncStandbys, ctx.me)) {
    ctx.info(`Not promoting: ${ctx.me} is not a synchronous standby in synchronous mode (sync key: ${describe(sync)})`);
    return { code: 'sync', reason: `not a synchronous standby in synchronous mode; sync key: ${describe(sync)}` };
  }
  const quorum = sync.quorum ?? 0;
  if (quorum <= 0) return null;
  const mine = walPosition(ctx.local);
  let votes = 0;
  for (const name of sync.syncStandbys) {
    if (name.toLowerCase() === ctx.me.toLowerCase()) continue;
    const health = healthOf(ctx, ctx.member(name)?.name ?? name);
    if (health?.reachable && health.role !== 'primary' && (health.walLsn ?? 0n) <= mine) {
      ctx.info(`Got quorum vote from ${name}`);
      votes += 1;
    }
  }
  if (votes >= quorum) return null;
  ctx.info(`Quorum requirement ${quorum} can not be reached: ${votes} vote(s) (sync key: ${describe(sync)})`);
  return { code: 'sync', reason: `quorum ${quorum} can not be reached: ${votes} vote(s) from the other synchronous standbys; sync key: ${describe(sync)}` };
}

/**
 * Switchover candidates in synchronous mode: only listed standbys (Patroni's is_failover_possible
 * filter; a plain failover without a leader is not restricted, as in Patroni).
 */
export function syncAllowsCandidate(ctx: Ctx, name: string): boolean {
  const sync = activeSyncState(ctx);
  if (sync === null || !ctx.view.failover?.leader) return true;
  return syncListed(sync, name);
}

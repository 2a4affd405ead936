/**
 * The PostgreSQL side of the executor's actions, composed from src/postgres: each function is one
 * step the HA loop takes (start as a replica of X, demote, promote and record history, keep the
 * leader's slots). Nothing here decides anything; the callers (executor.ts) pass what decide chose.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ClusterView, Dcs, Member, TimelineSwitch } from '../../dcs/index.js';
import {
  checkDivergence,
  ensureCleanShutdown,
  parseTimelineHistory,
  slotNameFromMemberName,
  syncSlots,
  wantedSlots,
  type PgContext,
  type StandbyTarget,
} from '../../postgres/index.js';
import { addressOfConnUrl } from '../settings.js';

/** Where to stream from when following `leaderName`; null when its member key has no usable conn_url. */
export function standbyTarget(view: ClusterView | null, leaderName: string | null, me: string, slots: boolean): StandbyTarget | null {
  if (leaderName === null || view === null) return null;
  const address = addressOfConnUrl(view.members.find((m) => m.name === leaderName)?.connUrl);
  if (!address) return null;
  const target: StandbyTarget = { host: address.host, port: address.port };
  if (slots) target.slotName = slotNameFromMemberName(me);
  return target;
}

export function memberAddress(view: ClusterView | null, name: string): { host: string; port: number; name: string } | null {
  const member: Member | undefined = view?.members.find((m) => m.name === name);
  const address = addressOfConnUrl(member?.connUrl);
  return address ? { ...address, name } : null;
}

/**
 * Has the local data diverged from `leader`'s timeline? A crashed server is first brought to a
 * clean shutdown in single-user mode (Patroni does the same before pg_rewind), since its WAL end is
 * unknown otherwise. Null when it cannot be told (the leader unreachable …): the caller checks again later.
 */
export async function divergedFrom(
  ctx: PgContext,
  leader: { host: string; port: number; name: string },
  crashed: boolean,
): Promise<{ diverged: boolean; reason: string }> {
  if (crashed) await ensureCleanShutdown(ctx);
  const check = await checkDivergence(ctx, leader);
  return { diverged: check.diverged, reason: check.reason };
}

/**
 * The `history` key after a promotion: the lines of our new timeline's history file (what
 * PostgreSQL itself recorded), keeping the timestamps and leaders already published and stamping
 * the newest switch with now and our name (Patroni enriches them the same way).
 */
export async function historyAfterPromote(
  ctx: PgContext,
  timeline: number,
  previous: readonly TimelineSwitch[],
  me: string,
  nowIso: string,
): Promise<TimelineSwitch[] | null> {
  if (timeline <= 1) return [];
  const file = path.join(ctx.options.data_dir, 'pg_wal', `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return null;
  }
  const known = new Map(previous.map((l) => [l.timeline, l]));
  const entries = parseTimelineHistory(text);
  return entries.map((e, i) => {
    const last = i === entries.length - 1;
    const old = known.get(e.parentTimeline);
    return {
      timeline: e.parentTimeline,
      lsn: e.switchLsn,
      reason: e.reason,
      timestamp: last ? nowIso : (old?.timestamp ?? null),
      newLeader: last ? me : (old?.newLeader ?? null),
    };
  });
}

/** Writes history after a promotion; best effort (the next promotion rewrites it from PostgreSQL's files). */
export async function recordHistory(ctx: PgContext, dcs: Dcs, view: ClusterView | null, timeline: number, me: string): Promise<void> {
  const lines = await historyAfterPromote(ctx, timeline, view?.history?.lines ?? [], me, new Date().toISOString());
  if (lines !== null) await dcs.setHistory(lines);
}

/**
 * The leader keeps one physical slot per other member (use_slots) plus the permanent `slots` of
 * the config; slots this agent created for members that left are dropped.
 */
export class SlotKeeper {
  private owned = new Set<string>();
  private lastWanted = '';

  async ensure(
    ctx: PgContext,
    view: ClusterView,
    me: string,
    options: { useSlots: boolean; permanent: Record<string, { type?: 'physical' | 'logical'; database?: string; plugin?: string }> },
    force = false,
  ): Promise<string[]> {
    const wanted = wantedSlots(me, view.members.map((m) => m.name), options.permanent, options.useSlots);
    const key = JSON.stringify(wanted);
    if (!force && key === this.lastWanted) return [];
    const applied = await syncSlots(ctx, { wanted, owned: this.owned });
    this.owned = applied.owned;
    const errors = applied.results.filter((r) => r.error !== undefined);
    // Retry next cycle when anything failed; otherwise only when the wanted set changes.
    this.lastWanted = errors.length === 0 ? key : '';
    return applied.results.map((r) =>
      r.error ? `could not ${r.action.kind} slot: ${r.error}` : r.action.kind === 'skip' ? r.action.reason : `${r.action.kind === 'create' ? 'created' : 'dropped'} replication slot: ${r.action.kind === 'create' ? r.action.slot.name : r.action.name}`,
    );
  }

  /** Forget what was checked (after a promotion or restart the slots must be looked at again). */
  reset(): void {
    this.lastWanted = '';
  }
}

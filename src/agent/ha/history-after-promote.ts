/**
 * The `history` key a new primary writes (docs/patroni-behaviour.md 0): what PostgreSQL recorded in
 * the new timeline's history file, enriched with when and by whom each switch happened.
 */
import type { ClusterView, Dcs, TimelineSwitch } from '../../dcs/index.js';
import { parseTimelineHistory } from '../../postgres/index.js';
import type { LocalPostgres } from './local-postgres.js';

/**
 * The `history` key after a promotion: the lines of our new timeline's history file (what
 * PostgreSQL itself recorded), keeping the timestamps and leaders already published and stamping
 * the newest switch with now and our name (Patroni enriches them the same way).
 */
export async function historyAfterPromote(
  pg: LocalPostgres,
  timeline: number,
  previous: readonly TimelineSwitch[],
  me: string,
  nowIso: string,
): Promise<TimelineSwitch[] | null> {
  if (timeline <= 1) return [];
  // Best effort, like the whole history: a file that cannot be read leaves the key as it is.
  const text = await pg.timelineHistory(timeline).catch(() => null);
  if (text === null) return null;
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
export async function recordHistory(pg: LocalPostgres, dcs: Dcs, view: ClusterView | null, timeline: number, me: string): Promise<void> {
  const lines = await historyAfterPromote(pg, timeline, view?.history?.lines ?? [], me, new Date().toISOString());
  if (lines !== null) await dcs.setHistory(lines);
}

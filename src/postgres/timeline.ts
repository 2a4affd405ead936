// Timeline histories and the "has this node diverged from the primary?" decision (Patroni's
// Rewind._check_timeline_and_lsn, docs/patroni-behaviour.md 4.7). The decision is a pure function; the two
// I/O helpers read the primary's timeline and history, and a running standby's own position, over
// physical replication connections.
import { connect } from './connection.js';
import { formatLsn, parseLsn } from './lsn.js';
import type { PgContext } from './types.js';

/** One line of a `0000000N.history` file: timeline `parentTimeline` ended at `switchLsn`. */
export interface TimelineHistoryEntry {
  parentTimeline: number;
  switchLsn: bigint;
  reason: string;
}

/**
 * Parses a timeline history file (`parentTLI <tab> switchpoint <tab> reason`, `#` comments and blank lines
 * allowed, as PostgreSQL's readTimeLineHistory accepts). Malformed lines throw: a history we cannot read
 * must not be mistaken for "no divergence".
 */
export function parseTimelineHistory(text: string): TimelineHistoryEntry[] {
  const entries: TimelineHistoryEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(\d+)\s+([0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8})(?:\s+(.*))?$/.exec(line);
    if (!match) throw new Error(`timeline history line ${i + 1} is malformed: ${JSON.stringify(line)}`);
    const parentTimeline = Number(match[1]);
    const previous = entries[entries.length - 1];
    if (previous && parentTimeline <= previous.parentTimeline) {
      throw new Error(`timeline history line ${i + 1}: timeline ${parentTimeline} does not increase`);
    }
    entries.push({ parentTimeline, switchLsn: parseLsn(match[2]!), reason: (match[3] ?? '').trim() });
  }
  return entries;
}

/** Where the local node's WAL ends, as seen from the running server or from pg_controldata. */
export interface LocalTimelinePosition {
  timeline: number;
  /** Replayed LSN (replica / shut down in recovery) or latest checkpoint location (shut down primary). */
  lsn: bigint;
  /** True when the position comes from a standby (replay position), false for a cleanly shut down primary. */
  inRecovery: boolean;
  /**
   * For a former primary only: where its shutdown checkpoint record ends (from pg_waldump). A clean switchover
   * leaves the new timeline branching exactly there, so the node can follow without a rewind.
   */
  checkpointEndLsn?: bigint;
}

export interface DivergenceInput {
  local: LocalTimelinePosition;
  primaryTimeline: number;
  /** The primary's history file for `primaryTimeline` (empty when it is timeline 1 or equal to ours). */
  primaryHistory: readonly TimelineHistoryEntry[];
}

export interface DivergenceVerdict {
  diverged: boolean;
  reason: string;
}

/** Decides like Patroni whether the local node must be rewound (or reinitialised) to follow the primary. */
export function decideDivergence({ local, primaryTimeline, primaryHistory }: DivergenceInput): DivergenceVerdict {
  const where = `local timeline ${local.timeline} lsn ${formatLsn(local.lsn)}`;
  if (local.timeline > primaryTimeline) {
    return { diverged: true, reason: `${where} is ahead of the primary's timeline ${primaryTimeline}` };
  }
  if (local.timeline === primaryTimeline) {
    return { diverged: false, reason: `${where} is on the primary's timeline` };
  }
  for (const entry of primaryHistory) {
    if (entry.parentTimeline > local.timeline) {
      return {
        diverged: true,
        reason: `${where} is not in the primary's history (it branched from timeline ${entry.parentTimeline})`,
      };
    }
    if (entry.parentTimeline !== local.timeline) continue;
    const switchPoint = `the primary's switch point ${formatLsn(entry.switchLsn)} to timeline ${primaryTimeline}`;
    if (local.inRecovery) {
      return local.lsn > entry.switchLsn
        ? { diverged: true, reason: `${where} replayed past ${switchPoint}` }
        : { diverged: false, reason: `${where} is not past ${switchPoint}` };
    }
    // A former primary's checkpoint record must end exactly at the switch point: anything it wrote after the
    // replica stopped receiving is on a branch the primary never saw.
    if (local.lsn >= entry.switchLsn) {
      return { diverged: true, reason: `${where} checkpoint is at or past ${switchPoint}` };
    }
    if (local.checkpointEndLsn === undefined) {
      return { diverged: true, reason: `${where}: end of checkpoint record unknown, cannot prove it matches ${switchPoint}` };
    }
    return local.checkpointEndLsn === entry.switchLsn
      ? { diverged: false, reason: `${where} checkpoint ends at ${switchPoint}` }
      : {
          diverged: true,
          reason: `${where} checkpoint ends at ${formatLsn(local.checkpointEndLsn)}, not at ${switchPoint}`,
        };
  }
  return {
    diverged: true,
    reason: `${where} is not in the primary's timeline ${primaryTimeline} history`,
  };
}

/**
 * The local position from pg_controldata fields when the server is down (Patroni's
 * _get_local_timeline_lsn_from_controldata). Undefined when the cluster state does not tell
 * (crashed: run crash recovery first).
 */
export function localPositionFromControlData(fields: Readonly<Record<string, string>>): LocalTimelinePosition | undefined {
  let state = fields['Database cluster state'];
  if (state === 'shut down in recovery' || state === 'in archive recovery') {
    const lsn = fields['Minimum recovery ending location'];
    const timeline = Number(fields["Min recovery ending loc's timeline"]);
    if (lsn !== undefined && lsn !== '0/0' && Number.isInteger(timeline) && timeline > 0) {
      return { timeline, lsn: parseLsn(lsn), inRecovery: true };
    }
    state = 'shut down'; // minimum recovery point 0/0: it was a primary when it went down
  }
  if (state === 'shut down') {
    const lsn = fields['Latest checkpoint location'];
    const timeline = Number(fields["Latest checkpoint's TimeLineID"]);
    if (lsn !== undefined && Number.isInteger(timeline) && timeline > 0) {
      return { timeline, lsn: parseLsn(lsn), inRecovery: false };
    }
  }
  return undefined;
}

/**
 * The end of the checkpoint record at `checkpointLsn`, from `pg_waldump -s <lsn> -n 2` run on the local
 * pg_wal: it prints the checkpoint record and then fails on the next one, naming where it starts
 * ("error in WAL record at 0/3000028: invalid record length at 0/30000A0: wanted 24, got 0").
 */
export function parseCheckpointEndFromWaldump(stdout: string, stderr: string, checkpointLsn: bigint): bigint | undefined {
  const records = stdout.trim().split('\n').filter((l) => l !== '');
  if (records.length !== 1 || !/CHECKPOINT_SHUTDOWN|CHECKPOINT_ONLINE/.test(records[0]!)) return undefined;
  const marker = `error in WAL record at ${formatLsn(checkpointLsn)}: invalid record length at `;
  const at = stderr.indexOf(marker);
  if (at < 0) return undefined;
  const match = /^([0-9A-Fa-f]+\/[0-9A-Fa-f]+)/.exec(stderr.slice(at + marker.length));
  return match ? parseLsn(match[1]!) : undefined;
}

/**
 * Where a running standby's WAL ends, from IDENTIFY_SYSTEM on a replication connection to itself
 * (as Patroni reads it): the timeline of the replay position, and the replay position or, when more
 * WAL has been received on that same timeline, the received one (which may end in a partial record:
 * the divergence check takes the replayed LSN instead, rewind.ts). SQL has no such pair: pg_control_checkpoint() gives the last restartpoint's
 * timeline, which lags behind the replay position by as many timelines as the standby crossed since,
 * and paired with the replay LSN it made a standby look diverged when it was not.
 */
export async function fetchLocalStandbyPosition(ctx: PgContext): Promise<{ timeline: number; lsn: bigint }> {
  const client = await connect(ctx, { user: ctx.options.authentication.replication, replication: true, connectTimeoutMs: 5000 });
  try {
    const row = (await client.query<{ timeline: string; xlogpos: string }>('IDENTIFY_SYSTEM')).rows[0];
    const timeline = Number(row?.timeline);
    if (!row || !Number.isInteger(timeline) || timeline < 1) throw new Error('IDENTIFY_SYSTEM on the local standby returned no timeline');
    return { timeline, lsn: parseLsn(row.xlogpos) };
  } finally {
    // Closing a replication connection we are done with: its failure changes nothing.
    await client.end().catch(() => undefined);
  }
}

export interface PrimaryTimeline {
  timeline: number;
  history: TimelineHistoryEntry[];
}

/**
 * Asks the primary at host:port for its current timeline (IDENTIFY_SYSTEM) and that timeline's history
 * (TIMELINE_HISTORY) over a physical replication connection as the replication user. Only the REPLICATION
 * attribute is needed, and the `replication` lines in pg_hba that every replica needs already let it in;
 * `pg_read_file('pg_wal/N.history')` would need superuser or pg_read_server_files, and a `replication=database`
 * connection is matched by pg_hba as an ordinary database connection, which replication users often may not make.
 */
export async function fetchPrimaryTimeline(ctx: PgContext, primary: { host: string; port: number }): Promise<PrimaryTimeline> {
  const client = await connect(ctx, {
    host: primary.host,
    port: primary.port,
    user: ctx.options.authentication.replication,
    replication: true,
    connectTimeoutMs: 5000,
  });
  try {
    const identify = await client.query<{ timeline: string }>('IDENTIFY_SYSTEM');
    const timeline = Number(identify.rows[0]?.timeline);
    if (!Number.isInteger(timeline) || timeline < 1) throw new Error('IDENTIFY_SYSTEM returned no timeline');
    if (timeline === 1) return { timeline, history: [] };
    const result = await client.query<{ content: string | Buffer }>(`TIMELINE_HISTORY ${timeline}`);
    const content = result.rows[0]?.content;
    if (content === undefined) throw new Error(`TIMELINE_HISTORY ${timeline} returned no row`);
    return { timeline, history: parseTimelineHistory(typeof content === 'string' ? content : content.toString('utf8')) };
  } finally {
    // Closing a replication connection we are done with: its failure changes nothing.
    await client.end().catch(() => undefined);
  }
}

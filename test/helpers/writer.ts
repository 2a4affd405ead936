// A paced single-row writer for failover tests and benchmarks, and the analysis of what it saw —
// the TypeScript twin of ../shared/anchors/patroni/{writer,analyze_writes}.py.
//
// Two modes:
// - 'multi-host': one connection, found like libpq's multi-host conninfo with
//   target_session_attrs=read-write: hosts in the listed order, the first that accepts the
//   connection and is not read-only wins. node-postgres (pg 8.23) has no multi-host support, so
//   the writer does the host walk itself. On any error it drops the connection and reconnects on
//   the next tick (no back-off beyond the tick), exactly like writer.py.
// - 'every-member': one connection per member, each attempting an INSERT every tick with its own
//   id sequence. A replica refuses ("read-only transaction"); a member that acknowledges is acting
//   as a primary — so two members acknowledging in the same period is a split brain.
//
// Every acknowledged commit is recorded as {member, id, ackedAtMs} (wall clock, Date.now()).
import pg from 'pg';

export interface WriterTarget {
  /** Member name recorded with each ack (and stored in the row). */
  name: string;
  host?: string;
  port: number;
}

export interface Ack {
  member: string;
  id: number;
  /** When the INSERT was sent: an ack of a write sent after a lease ended proves a stale primary, however late the ack was read. */
  sentAtMs: number;
  ackedAtMs: number;
}

export interface WriterError {
  member: string | null;
  id: number | null;
  atMs: number;
  message: string;
}

export interface WriterOptions {
  mode: 'multi-host' | 'every-member';
  targets: readonly WriterTarget[];
  /** Pace of the INSERTs (per member in every-member mode). Default 50 ms; the benchmark uses 20. */
  intervalMs?: number;
  /** Label stored with every row, so several runs can share the table. */
  run?: string;
  table?: string;
  user?: string;
  database?: string;
  password?: string;
  /** Per-host connect timeout (libpq's connect_timeout; a stopped host would otherwise hang). */
  connectTimeoutMs?: number;
  /** statement_timeout of the writer's sessions (writer.py: 5000). */
  statementTimeoutMs?: number;
}

/** A row found in the table at the end: which member acknowledged it and its id. */
export interface FinalRow {
  member: string;
  id: number;
}

const DEFAULT_TABLE = 'hactl_writes';

/** `postgresql://h1:p1,h2:p2/db?target_session_attrs=read-write` — for display and for libpq tools. */
export function multiHostConninfo(targets: readonly WriterTarget[], database = 'postgres', user = 'postgres'): string {
  const hosts = targets.map((t) => `${t.host ?? '127.0.0.1'}:${t.port}`).join(',');
  return `postgresql://${user}@${hosts}/${database}?target_session_attrs=read-write`;
}

/** Targets for members shaped like the e2e fixture's NodeSpec. */
export function writerTargets(nodes: readonly { name: string; pgPort: number }[]): WriterTarget[] {
  return nodes.map((n) => ({ name: n.name, host: '127.0.0.1', port: n.pgPort }));
}

type ConnectOptions = Pick<WriterOptions, 'user' | 'database' | 'password' | 'connectTimeoutMs' | 'statementTimeoutMs'>;

async function openClient(target: WriterTarget, options: ConnectOptions): Promise<pg.Client> {
  const client = new pg.Client({
    host: target.host ?? '127.0.0.1',
    port: target.port,
    user: options.user ?? 'postgres',
    database: options.database ?? 'postgres',
    password: options.password,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 2000,
    statement_timeout: options.statementTimeoutMs ?? 5000,
  });
  // A server that dies under an idle connection emits 'error'; the next query reports it.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
  return client;
}

/**
 * libpq's target_session_attrs=read-write walk: the first target (in order) that accepts a
 * connection and whose session is not read-only. Throws with every host's reason when none is.
 */
export async function connectReadWrite(targets: readonly WriterTarget[], options: ConnectOptions = {}): Promise<{ client: pg.Client; target: WriterTarget }> {
  const reasons: string[] = [];
  for (const target of targets) {
    let client: pg.Client | null = null;
    try {
      client = await openClient(target, options);
      const rows = (await client.query<{ ro: string }>("SELECT current_setting('transaction_read_only') AS ro")).rows;
      if (rows[0]?.ro === 'off') return { client, target };
      reasons.push(`${target.name}: session is read-only`);
    } catch (err) {
      reasons.push(`${target.name}: ${errorText(err)}`);
    }
    await client?.end().catch(() => {});
  }
  throw new Error(`no read-write server among ${targets.length} hosts (${reasons.join('; ')})`);
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).trim().replace(/\n/g, ' | ');
}

export class Writer {
  readonly acks: Ack[] = [];
  readonly errors: WriterError[] = [];
  /** Connections made: to which member, when (multi-host mode: each read-write server found). */
  readonly connections: { member: string; atMs: number }[] = [];
  readonly run: string;
  readonly table: string;
  private stopped = false;
  private loops: Promise<void>[] = [];
  private readonly intervalMs: number;

  constructor(readonly options: WriterOptions) {
    if (options.targets.length === 0) throw new Error('writer needs at least one target');
    this.intervalMs = options.intervalMs ?? 50;
    this.run = options.run ?? `run-${process.pid}-${Date.now()}`;
    this.table = options.table ?? DEFAULT_TABLE;
    if (!/^[a-z_][a-z0-9_]*$/.test(this.table)) throw new Error(`bad table name ${this.table}`);
  }

  /** Creates the table on the current primary (idempotent). Wait for replicas to have it before a failover. */
  async ensureTable(): Promise<void> {
    const { client } = await connectReadWrite(this.options.targets, this.options);
    try {
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${this.table} (run text NOT NULL, member text NOT NULL, id bigint NOT NULL, t double precision NOT NULL, PRIMARY KEY (run, member, id))`,
      );
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** Starts the paced loop(s); returns at once. */
  start(): void {
    if (this.loops.length > 0) throw new Error('writer already started');
    if (this.options.mode === 'multi-host') {
      this.loops = [this.multiHostLoop()];
    } else {
      this.loops = this.options.targets.map((t) => this.memberLoop(t));
    }
  }

  /** Stops after the in-flight INSERTs and closes the connections. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  /** Acks of one member (every-member mode) or on it (multi-host mode). */
  acksOf(member: string): Ack[] {
    return this.acks.filter((a) => a.member === member);
  }

  /** Rows of this run in the table, read on the current read-write server (or on `target`). */
  async finalRows(target?: WriterTarget): Promise<FinalRow[]> {
    const client = target ? await openClient(target, this.options) : (await connectReadWrite(this.options.targets, this.options)).client;
    try {
      const rows = (await client.query<{ member: string; id: string }>(`SELECT member, id FROM ${this.table} WHERE run = $1`, [this.run])).rows;
      return rows.map((r) => ({ member: r.member, id: Number(r.id) }));
    } finally {
      await client.end().catch(() => {});
    }
  }

  private async pace(next: number): Promise<number> {
    const wait = next - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    return Math.max(next + this.intervalMs, performance.now());
  }

  private async insert(client: pg.Client, member: string, id: number): Promise<void> {
    const sentAtMs = Date.now();
    await client.query(`INSERT INTO ${this.table} (run, member, id, t) VALUES ($1, $2, $3, $4)`, [this.run, member, id, sentAtMs / 1000]);
    this.acks.push({ member, id, sentAtMs, ackedAtMs: Date.now() });
  }

  private async multiHostLoop(): Promise<void> {
    let conn: { client: pg.Client; target: WriterTarget } | null = null;
    let id = 0;
    let next = performance.now();
    while (!this.stopped) {
      next = await this.pace(next);
      if (this.stopped) break;
      if (!conn) {
        try {
          conn = await connectReadWrite(this.options.targets, this.options);
          this.connections.push({ member: conn.target.name, atMs: Date.now() });
        } catch (err) {
          this.errors.push({ member: null, id: null, atMs: Date.now(), message: errorText(err) });
          continue;
        }
      }
      id += 1;
      try {
        await this.insert(conn.client, conn.target.name, id);
      } catch (err) {
        this.errors.push({ member: conn.target.name, id, atMs: Date.now(), message: errorText(err) });
        await conn.client.end().catch(() => {});
        conn = null;
      }
    }
    await conn?.client.end().catch(() => {});
  }

  private async memberLoop(target: WriterTarget): Promise<void> {
    let client: pg.Client | null = null;
    let id = 0;
    let next = performance.now();
    while (!this.stopped) {
      next = await this.pace(next);
      if (this.stopped) break;
      if (!client) {
        try {
          client = await openClient(target, this.options);
          this.connections.push({ member: target.name, atMs: Date.now() });
        } catch (err) {
          this.errors.push({ member: target.name, id: null, atMs: Date.now(), message: errorText(err) });
          continue;
        }
      }
      id += 1;
      try {
        await this.insert(client, target.name, id);
      } catch (err) {
        const message = errorText(err);
        this.errors.push({ member: target.name, id, atMs: Date.now(), message });
        // A replica refusing the write keeps its session (it becomes writable when promoted);
        // anything else (server gone, terminated, timeout) reconnects on the next tick.
        if (!/read-only transaction/.test(message)) {
          await client.end().catch(() => {});
          client = null;
        }
      }
    }
    await client?.end().catch(() => {});
  }
}

export interface AnalyzeOptions {
  /** Wall-clock ms of the disruptive action (kill, SIGTERM, switchover start). */
  eventAtMs?: number;
  /** The primary before the event; default: the member of the last ack at or before the event. */
  oldMember?: string;
  /**
   * Acks of one member less than this far apart belong to one continuous period of it acting as
   * primary; default max(1000 ms, 10 × the median gap). A real switch back to a member takes
   * seconds (it must rejoin as a replica first), so this never joins two legitimate reigns.
   */
  mergeGapMs?: number;
}

export interface SplitBrainWindow {
  startMs: number;
  endMs: number;
  durationMs: number;
  /** The members whose acknowledged periods overlap. */
  members: string[];
  /** Acks inside the window, over all members. */
  acks: number;
}

export interface WriteAnalysis {
  acked: number;
  /** The member of the first ack after the event on another member than the old one. */
  newMember: string | null;
  /** First ack on the new primary minus the event (analyze_writes.py: event_to_first_new_commit). */
  eventToFirstNewCommitMs: number | null;
  /** First ack on the new primary minus the last ack on the old one before it (unavailability_window). */
  unavailabilityWindowMs: number | null;
  /** The event minus the last ack at or before it. */
  lastAckBeforeEventMs: number | null;
  /** Acks from the old primary after the event (should be ~0 after a kill, 0 always with a fence). */
  acksOnOldAfterEvent: number;
  maxGapBetweenAcksMs: number | null;
  /** Intervals in which two or more different members acknowledged commits. */
  splitBrainWindows: SplitBrainWindow[];
  /** Acknowledged rows absent from the final rows (lost commits), and the first few of them. */
  missingAcked: number;
  missingSample: Ack[];
  /** Rows present (of this run) that were never acknowledged (in flight when the connection broke). */
  rowsPresentNotAcked: number;
}

/** Each member's periods of acting as primary: its acks merged when less than `gapMs` apart. */
function periodsByMember(sorted: readonly Ack[], gapMs: number): { member: string; startMs: number; endMs: number }[] {
  const open = new Map<string, { member: string; startMs: number; endMs: number }>();
  const periods: { member: string; startMs: number; endMs: number }[] = [];
  for (const a of sorted) {
    const cur = open.get(a.member);
    if (cur && a.ackedAtMs - cur.endMs <= gapMs) {
      cur.endMs = a.ackedAtMs;
    } else {
      const p = { member: a.member, startMs: a.ackedAtMs, endMs: a.ackedAtMs };
      periods.push(p);
      open.set(a.member, p);
    }
  }
  return periods;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}

/** What the writer's acks say about availability and durability (see analyze_writes.py). */
export function analyzeWrites(acks: readonly Ack[], finalRows: readonly FinalRow[], options: AnalyzeOptions = {}): WriteAnalysis {
  const sorted = [...acks].sort((x, y) => x.ackedAtMs - y.ackedAtMs);
  const gaps = sorted.slice(1).map((a, i) => a.ackedAtMs - sorted[i]!.ackedAtMs);

  // Without an event time, the event is the first change of the acknowledging member.
  const changeIndex = sorted.findIndex((a, i) => i > 0 && a.member !== sorted[i - 1]!.member);
  const eventAtMs = options.eventAtMs ?? (changeIndex > 0 ? sorted[changeIndex]!.ackedAtMs : null);
  const before = eventAtMs === null ? [] : sorted.filter((a) => a.ackedAtMs <= eventAtMs);
  const oldMember = options.oldMember ?? (options.eventAtMs === undefined ? sorted[changeIndex - 1]?.member : before.at(-1)?.member) ?? null;
  const firstNew = eventAtMs === null ? undefined : sorted.find((a) => a.ackedAtMs >= eventAtMs && a.member !== oldMember);
  const lastOld = firstNew ? sorted.filter((a) => a.member === oldMember && a.ackedAtMs < firstNew.ackedAtMs).at(-1) : undefined;

  const mergeGapMs = options.mergeGapMs ?? Math.max(1000, 10 * median(gaps));
  const periods = periodsByMember(sorted, mergeGapMs);
  const overlaps: { startMs: number; endMs: number; members: Set<string> }[] = [];
  for (let i = 0; i < periods.length; i++) {
    for (let j = i + 1; j < periods.length; j++) {
      const p = periods[i]!;
      const q = periods[j]!;
      if (p.member === q.member) continue;
      const startMs = Math.max(p.startMs, q.startMs);
      const endMs = Math.min(p.endMs, q.endMs);
      if (startMs <= endMs) overlaps.push({ startMs, endMs, members: new Set([p.member, q.member]) });
    }
  }
  overlaps.sort((x, y) => x.startMs - y.startMs);
  const merged: typeof overlaps = [];
  for (const o of overlaps) {
    const last = merged.at(-1);
    if (last && o.startMs <= last.endMs) {
      last.endMs = Math.max(last.endMs, o.endMs);
      for (const m of o.members) last.members.add(m);
    } else {
      merged.push({ ...o, members: new Set(o.members) });
    }
  }
  const splitBrainWindows = merged.map((w) => ({
    startMs: w.startMs,
    endMs: w.endMs,
    durationMs: w.endMs - w.startMs,
    members: [...w.members].sort(),
    acks: sorted.filter((a) => a.ackedAtMs >= w.startMs && a.ackedAtMs <= w.endMs).length,
  }));

  const key = (member: string, id: number) => `${member}\u0000${id}`;
  const present = new Set(finalRows.map((r) => key(r.member, r.id)));
  const ackedKeys = new Set(sorted.map((a) => key(a.member, a.id)));
  const missing = sorted.filter((a) => !present.has(key(a.member, a.id)));

  return {
    acked: sorted.length,
    newMember: firstNew?.member ?? null,
    eventToFirstNewCommitMs: firstNew && eventAtMs !== null ? firstNew.ackedAtMs - eventAtMs : null,
    unavailabilityWindowMs: firstNew && lastOld ? firstNew.ackedAtMs - lastOld.ackedAtMs : null,
    lastAckBeforeEventMs: eventAtMs !== null && before.length > 0 ? eventAtMs - before.at(-1)!.ackedAtMs : null,
    acksOnOldAfterEvent: eventAtMs === null ? 0 : sorted.filter((a) => a.ackedAtMs > eventAtMs && a.member === oldMember).length,
    maxGapBetweenAcksMs: gaps.length > 0 ? Math.max(...gaps) : null,
    splitBrainWindows,
    missingAcked: missing.length,
    missingSample: missing.slice(0, 20),
    rowsPresentNotAcked: [...present].filter((k) => !ackedKeys.has(k)).length,
  };
}

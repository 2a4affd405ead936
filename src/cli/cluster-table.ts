/**
 * `hactl list` and `hactl topology`: the /cluster body as patronictl 3.x prints it. Columns Member,
 * Host, Role, State, TL, Lag in MB, plus Pending restart, Scheduled restart and Tags when asked
 * (-e) or when any member has one, and hactl's Fence and Watchdog only with -e (every hactl member
 * has them, so the default table stays patronictl's); the cluster name and system identifier in
 * the top border; maintenance mode and a scheduled switchover below the table.
 */
import type { ClusterJson, ClusterMember } from '../client/index.js';
import type { ChalkInstance } from 'chalk';
import { makeColors } from './colors.js';
import { blockStyle, compactRecords, renderTsv, type OutputFormat, type OutputRecord, type Rendered } from './output.js';
import { renderTable, type Column } from './table.js';

export interface ClusterTableInput {
  cluster: ClusterJson;
  /** From the `initialize` key (an agent's database_system_identifier); null when unknown. */
  systemIdentifier: string | null;
}

export interface ClusterTableOptions {
  format: OutputFormat;
  extended?: boolean;
  /** Tree order, replicas indented under the member they replicate from. */
  topology?: boolean;
  colors?: ChalkInstance;
}

const ROLE_TEXT: Record<string, string> = {
  leader: 'Leader',
  standby_leader: 'Standby Leader',
  sync_standby: 'Sync Standby',
  quorum_standby: 'Quorum Standby',
  replica: 'Replica',
};

const RIGHT = new Set(['TL', 'Lag in MB']);
const OPTIONAL = ['Pending restart', 'Scheduled restart', 'Tags'] as const;
/** hactl extensions (issue 9): shown only with -e. */
const EXTENDED_ONLY = ['Fence', 'Watchdog'] as const;

export function isLeader(m: ClusterMember): boolean {
  return m.role === 'leader' || m.role === 'standby_leader';
}

/**
 * Members in name order as Patroni sorts them (cluster_as_json: Python's string order, by code
 * point), not localeCompare: that one's first call sets up ICU's collator, ~40 ms of a CLI run.
 */
export function byName(a: ClusterMember, b: ClusterMember): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function roleText(role: string): string {
  return ROLE_TEXT[role] ?? role.replace(/_/g, ' ').replace(/^./, (ch) => ch.toUpperCase());
}

/** `host`, or `host:port` when any member is not on 5432 or two members share a host (patronictl). */
export function hostColumn(members: ClusterMember[]): (m: ClusterMember) => string {
  const hosts = members.map((m) => m.host ?? '');
  const showPort = members.some((m) => m.port !== undefined && m.port !== 5432) || new Set(hosts).size < hosts.length;
  return (m) => (m.host === undefined ? '' : showPort && m.port !== undefined ? `${m.host}:${m.port}` : m.host);
}

/** Replay lag in whole MB as patronictl rounds it; `unknown` stays a word; the leader has none. */
export function lagInMb(m: ClusterMember): number | string {
  if (isLeader(m)) return '';
  const lag = m.lag ?? m.replay_lag;
  if (lag === undefined) return '';
  if (lag === 'unknown') return 'unknown';
  return Math.round(lag / 1024 / 1024);
}

/** Members in display order with their depth: leader first, each replica under its `replicatefrom`. */
export function topologyOrder(members: ClusterMember[]): { member: ClusterMember; level: number }[] {
  const leader = members.find(isLeader) ?? null;
  const replicaNames = new Set(members.filter((m) => !isLeader(m)).map((m) => m.name));
  const children = new Map<string | null, ClusterMember[]>();
  for (const m of members) {
    if (isLeader(m)) continue;
    const from = m.tags?.replicatefrom;
    const parent = typeof from === 'string' && from !== m.name && replicaNames.has(from) ? from : (leader?.name ?? null);
    children.set(parent, [...(children.get(parent) ?? []), m]);
  }
  const out: { member: ClusterMember; level: number }[] = [];
  const seen = new Set<string>();
  const walk = (parent: string | null, level: number) => {
    for (const m of [...(children.get(parent) ?? [])].sort(byName)) {
      if (seen.has(m.name)) continue;
      seen.add(m.name);
      out.push({ member: m, level });
      walk(m.name, level + 1);
    }
  };
  if (leader) {
    out.push({ member: leader, level: 0 });
    seen.add(leader.name);
    walk(leader.name, 1);
  } else {
    walk(null, 0);
  }
  // A replicatefrom cycle (a→b→a) has no root: show those members flat rather than lose them.
  for (const m of members) if (!seen.has(m.name)) out.push({ member: m, level: leader ? 1 : 0 });
  return out;
}

function scheduledRestartText(m: ClusterMember): string {
  const s = m.scheduled_restart;
  if (!s) return '';
  return s.postgres_version ? `${s.schedule} if version < ${s.postgres_version}` : s.schedule;
}

/** One record per member with patronictl's column names (the json/yaml/tsv keys). */
export function memberRecords(cluster: ClusterJson, topology = false): OutputRecord[] {
  const host = hostColumn(cluster.members);
  const ordered = topology ? topologyOrder(cluster.members) : [...cluster.members].sort(byName).map((member) => ({ member, level: 0 }));
  return ordered.map(({ member: m, level }) => ({
    Cluster: cluster.scope,
    Member: level > 0 ? `${' '.repeat((level - 1) * 2)}+ ${m.name}` : m.name,
    Host: host(m),
    Role: roleText(m.role),
    State: m.state,
    TL: m.timeline ?? '',
    'Lag in MB': lagInMb(m),
    'Pending restart': m.pending_restart ? '*' : '',
    'Scheduled restart': scheduledRestartText(m),
    Tags: m.tags && Object.keys(m.tags).length > 0 ? (m.tags as Record<string, unknown>) : '',
    Fence: m.fence ?? '',
    Watchdog: m.watchdog ?? '',
  }));
}

export function memberColumns(records: OutputRecord[], extended: boolean): string[] {
  const base = ['Member', 'Host', 'Role', 'State', 'TL', 'Lag in MB'];
  return [...base, ...OPTIONAL.filter((c) => extended || records.some((r) => r[c] !== '' && r[c] !== undefined)), ...(extended ? EXTENDED_ONLY : [])];
}

/** patronictl's title: ` Cluster: demo (7117556723320621508) `; `(uninitialized)` when there is no cluster yet. */
export function clusterTitle(name: string, systemIdentifier: string | null, memberCount: number): string {
  const details = systemIdentifier ? ` (${systemIdentifier})` : memberCount === 0 ? ' (uninitialized)' : '';
  return ` Cluster: ${name}${details} `;
}

/** Lines under the table (pretty only): maintenance mode, failsafe mode, a scheduled switchover. */
export function clusterFooter(cluster: ClusterJson): string {
  const info: string[] = [];
  if (cluster.pause) info.push('Maintenance mode: on');
  if (cluster.failsafe_mode) info.push('Failsafe mode: on');
  const s = cluster.scheduled_switchover;
  if (s) {
    let line = `Switchover scheduled at: ${s.at}`;
    if (s.from) line += `\n                    from: ${s.from}`;
    if (s.to) line += `\n                      to: ${s.to}`;
    info.push(line);
  }
  return info.length > 0 ? ' ' + info.join('\n ') : '';
}

export function renderCluster(input: ClusterTableInput, opts: ClusterTableOptions): Rendered {
  const { cluster } = input;
  const records = memberRecords(cluster, opts.topology === true);
  const columns = memberColumns(records, opts.extended === true);
  if (opts.format === 'json' || opts.format === 'yaml') return { data: compactRecords(['Cluster', ...columns], records), format: opts.format };
  if (opts.format === 'tsv') return { text: renderTsv(['Cluster', ...columns], records) };
  const c = opts.colors ?? makeColors();
  const cols: Column<OutputRecord>[] = columns.map((header) => ({
    header,
    align: RIGHT.has(header) ? 'right' : 'left',
    value: (r) => {
      const v = r[header];
      return v !== null && typeof v === 'object' ? blockStyle(v as Record<string, unknown>) : (v as string | number | undefined);
    },
    color: colorFor(header),
  }));
  const table = renderTable(cols, records, { colors: c, border: 'ascii', borderTitle: clusterTitle(cluster.scope, input.systemIdentifier, cluster.members.length) });
  const footer = clusterFooter(cluster);
  return { text: footer ? `${table}\n${footer}` : table };
}

function colorFor(header: string): Column<OutputRecord>['color'] {
  switch (header) {
    case 'Role':
      return (t, _r, c) => (t === 'Leader' || t === 'Standby Leader' ? c.green.bold(t) : t);
    case 'State':
      return (t, _r, c) => (t === 'running' || t === 'streaming' ? c.green(t) : /failed|crashed|stopped/.test(t) ? c.red(t) : c.yellow(t));
    case 'Lag in MB':
      return (t, _r, c) => (t === 'unknown' ? c.yellow(t) : t);
    case 'Fence':
    case 'Watchdog':
      // Not protecting this member's primary: the states an operator must look at.
      return (t, _r, c) => (t === 'fenced' || t === 'dead' || t === 'failed' ? c.red(t) : t === 'paused' ? c.yellow(t) : t);
    default:
      return undefined;
  }
}

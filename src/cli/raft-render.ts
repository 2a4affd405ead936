/** How the `hactl raft` commands show status and members (tables or JSON, one place). */
import type { AdminStatus, MemberInfo } from '../raft/admin/protocol.js';
import { makeColors } from './colors.js';
import { formatDuration } from './format.js';
import { renderKeyValueTable, renderTable, type Cell } from './table.js';

const ROLE_ORDER = ['version', 'self', 'role', 'state', 'leader', 'has_quorum', 'raft_term', 'commit_idx', 'last_applied', 'leader_commit_idx', 'log_len', 'first_log_idx', 'last_log_idx', 'snapshot_idx', 'keys', 'leases', 'voters', 'learners', 'partner_nodes_count', 'readonly_nodes_count', 'data_dir', 'in_memory', 'storage_healthy', 'storage_error', 'uptime'];

/** The status as a field/value table: the important fields first, per-partner fields grouped after. */
export function renderStatus(status: AdminStatus, colorEnabled?: boolean): string {
  const c = makeColors(colorEnabled);
  const rows: [string, Cell][] = [];
  const seen = new Set<string>();
  for (const k of ROLE_ORDER) {
    if (!(k in status)) continue;
    seen.add(k);
    let v: Cell = status[k];
    if (k === 'uptime' && typeof v === 'number') v = `${formatDuration(v)} (${v} s)`;
    if (k === 'data_dir' && v === null) v = '(none: in memory)';
    if (k === 'role') v = status.role === 'leader' ? c.green(String(v)) : String(v);
    if (k === 'has_quorum' || k === 'storage_healthy') v = v === true ? c.green('yes') : c.red('no');
    if (k === 'leader' && v === null) v = c.yellow('none');
    rows.push([k, v]);
  }
  for (const k of Object.keys(status).sort()) {
    if (seen.has(k)) continue;
    let v: Cell = status[k];
    if (k.startsWith('partner_node_status_server_')) v = v === 2 ? c.green('2 (connected)') : c.red(`${v} (disconnected)`);
    rows.push([k, v]);
  }
  return renderKeyValueTable(rows, { colors: c });
}

export function renderMembers(members: MemberInfo[], colorEnabled?: boolean): string {
  const c = makeColors(colorEnabled);
  return renderTable<MemberInfo>(
    [
      { header: 'member', value: (m) => m.addr + (m.self ? ' (queried)' : '') },
      { header: 'role', value: (m) => (m.leader ? 'leader' : m.role), color: (t, m) => (m.leader ? c.green(t) : m.role === 'learner' ? c.yellow(t) : t) },
      { header: 'voting', value: (m) => (m.role === 'voter' ? 'yes' : 'no (catching up)') },
      { header: 'status', value: (m) => m.status, color: (t) => (t === 'connected' ? c.green(t) : t === 'unknown' ? c.dim(t) : c.red(t)) },
      { header: 'match index', value: (m) => m.matchIndex ?? '', align: 'right' },
    ],
    members,
    { colors: c },
  );
}

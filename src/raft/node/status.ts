/**
 * The admin status of a node as a plain record, in `syncobj_admin -status` field names plus ours.
 * Pure: everything it shows is passed in.
 */
import { createRequire } from 'node:module';
import type { Membership } from '../core/types.js';
import { STATE_CODE, type AdminStatus, type MemberInfo } from '../admin/protocol.js';
import type { RaftStatus } from '../core/index.js';
import type { ResolvedOptions } from './options.js';
import type { StateMachine } from './state-machine.js';

const VERSION: string = (() => {
  try {
    return (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;
  } catch {
    // A bundled or relocated build without package.json: the status says so rather than failing.
    return 'unknown';
  }
})();

export interface StatusInput {
  options: ResolvedOptions;
  view: RaftStatus;
  sm: StateMachine;
  lastHeard: Map<string, number>;
  now: number;
  uptimeS: number;
  inMemory: boolean;
  storageError: string | null;
  /** After `hactl raft recover`, until caught up and promoted: not voting. */
  recovering: boolean;
  connectionTimeoutMs: number;
}

function heardRecently(lastHeard: Map<string, number>, addr: string, now: number, timeoutMs: number): boolean {
  const at = lastHeard.get(addr);
  return at !== undefined && now - at <= timeoutMs;
}

export function buildStatus(i: StatusInput): AdminStatus {
  const { view, sm, options } = i;
  const self = options.selfAddr;
  const members = [...view.membership.voters, ...view.membership.learners];
  const partners = members.filter((a) => a !== self).sort();
  const isLeader = view.role === 'leader';
  const connected = (a: string) => heardRecently(i.lastHeard, a, i.now, i.connectionTimeoutMs);
  const votersHeard = view.membership.voters.filter((v) => v === self || connected(v)).length;
  // Leader: a majority of voters answered recently (response-based, stricter than pysyncobj's
  // "connected"); follower: the leader was heard recently (it holds quorum by check-quorum).
  const peerIds = isLeader ? Object.keys(view.peers).filter((p) => p !== self) : [];
  const hasQuorum = isLeader ? votersHeard > view.membership.voters.length / 2 : view.leader !== null && connected(view.leader);
  const status: AdminStatus = {
    version: VERSION,
    revision: 'deprecated',
    self,
    state: STATE_CODE[view.role as keyof typeof STATE_CODE] ?? 0,
    leader: view.leader,
    has_quorum: hasQuorum,
    partner_nodes_count: partners.length,
    readonly_nodes_count: 0,
    log_len: Math.max(0, view.lastIndex - view.snapshotIndex),
    last_applied: sm.appliedIndex,
    commit_idx: view.commit,
    raft_term: view.term,
    leader_commit_idx: isLeader ? view.commit : null,
    next_node_idx_count: peerIds.length,
    match_idx_count: peerIds.length,
    uptime: Math.round(i.uptimeS),
    self_code_version: 0,
    enabled_code_version: 0,
    role: view.role,
    voters: view.membership.voters.join(','),
    learners: view.membership.learners.join(','),
    first_log_idx: view.firstIndex,
    last_log_idx: view.lastIndex,
    snapshot_idx: view.snapshotIndex,
    keys: sm.kv.stats().keyCount,
    leases: sm.kv.stats().leaseCount,
    data_dir: options.dataDir,
    in_memory: i.inMemory,
    storage_healthy: i.storageError === null,
    storage_error: i.storageError,
    recovering: i.recovering,
  };
  for (const p of partners) status[`partner_node_status_server_${p}`] = connected(p) ? 2 : 0;
  for (const id of peerIds.sort()) {
    status[`next_node_idx_server_${id}`] = view.peers[id]!.next;
    status[`match_idx_server_${id}`] = view.peers[id]!.match;
  }
  if (view.pendingPromotion) status.catching_up = view.pendingPromotion;
  if (view.leadTransferee) status.transferring_to = view.leadTransferee;
  if (view.lastStepDownReason) status.last_step_down_reason = view.lastStepDownReason;
  return status;
}

export function buildMembers(self: string, view: RaftStatus, applied: Membership, lastHeard: Map<string, number>, now: number, timeoutMs: number): MemberInfo[] {
  // The core's membership is the latest appended (it takes effect on append); fall back to applied.
  const m = view.membership.voters.length > 0 ? view.membership : applied;
  const match = new Map(Object.entries(view.peers).map(([id, p]) => [id, p.match]));
  const rows: MemberInfo[] = [];
  for (const [addrs, role] of [[m.voters, 'voter'], [m.learners, 'learner']] as const) {
    for (const addr of addrs) {
      rows.push({
        addr,
        self: addr === self,
        leader: addr === view.leader,
        role,
        status:
          addr === self || heardRecently(lastHeard, addr, now, timeoutMs)
            ? 'connected'
            : view.role !== 'leader' && addr !== view.leader
              ? 'unknown'
              : 'disconnected',
        matchIndex: view.role === 'leader' ? (addr === self ? view.lastIndex : (match.get(addr) ?? 0)) : null,
      });
    }
  }
  return rows.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
}

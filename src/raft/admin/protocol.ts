/**
 * The admin protocol, carried as JSON RPC requests on the Raft port (like pysyncobj's utility
 * messages). `status` keeps the field names `syncobj_admin -status` prints, so scripts that grep
 * them keep working; fields after `enabled_code_version` are ours.
 */

export type AdminOp = 'status' | 'members' | 'add' | 'remove' | 'transfer' | 'join';

/** `forwarded` is set by a member passing the request on to the leader: it must not travel further. */
export type AdminRequest =
  | { kind: 'admin'; op: 'status' }
  | { kind: 'admin'; op: 'members' }
  | { kind: 'admin'; op: 'add'; addr: string; timeoutMs?: number; forwarded?: boolean }
  | { kind: 'admin'; op: 'remove'; addr: string; timeoutMs?: number; forwarded?: boolean }
  /** No addr: the leader picks the most up-to-date voter. */
  | { kind: 'admin'; op: 'transfer'; addr?: string; timeoutMs?: number; forwarded?: boolean }
  /**
   * Sent by a member about itself (as pysyncobj's auto-join does): a new member started with the
   * partner_addrs of a running group, or one recovered with `hactl raft recover` (`recovering`),
   * asks to be added; it catches up as a learner and is promoted to voter once caught up.
   */
  | { kind: 'admin'; op: 'join'; addr: string; recovering?: boolean; timeoutMs?: number; forwarded?: boolean };

/** pysyncobj's `state` numbers (0 follower, 1 candidate, 2 leader); `role` has our finer names. */
export const STATE_CODE = { follower: 0, learner: 0, 'pre-candidate': 1, candidate: 1, leader: 2 } as const;

export type StatusValue = string | number | boolean | null;

export interface AdminStatus {
  version: string;
  revision: string;
  self: string;
  state: number;
  leader: string | null;
  has_quorum: boolean;
  partner_nodes_count: number;
  readonly_nodes_count: number;
  log_len: number;
  last_applied: number;
  commit_idx: number;
  raft_term: number;
  leader_commit_idx: number | null;
  next_node_idx_count: number;
  match_idx_count: number;
  uptime: number;
  self_code_version: number;
  enabled_code_version: number;
  // ours
  role: string;
  voters: string;
  learners: string;
  first_log_idx: number;
  last_log_idx: number;
  snapshot_idx: number;
  keys: number;
  leases: number;
  data_dir: string | null;
  in_memory: boolean;
  storage_healthy: boolean;
  storage_error: string | null;
  /** Recovered with `hactl raft recover` and still catching up: does not vote yet. */
  recovering: boolean;
  /** partner_node_status_server_<addr> (2 heard from recently, 0 not), match_idx_server_<addr>, next_node_idx_server_<addr>. */
  [field: string]: StatusValue;
}

export interface MemberInfo {
  addr: string;
  self: boolean;
  leader: boolean;
  /** 'voter' counts for quorum; 'learner' is catching up before it votes. */
  role: 'voter' | 'learner';
  /**
   * 'connected' when a message from it arrived within the connection timeout (always for self);
   * 'unknown' on a follower for other followers, which followers never hear from.
   */
  status: 'connected' | 'disconnected' | 'unknown';
  /** Leader's view of the member's replicated log (null on followers). */
  matchIndex: number | null;
}

export interface TransferResult {
  /** pysyncobj-style line: "SUCCESS TRANSFER 127.0.0.1:5011". */
  message: string;
  from: string;
  to: string;
  elapsedMs: number;
}

export interface MembershipResult {
  message: string;
  voters: string[];
  learners: string[];
  /** Log index of the configuration entry these lists come from (a rejoining member waits for a later one). */
  configIndex?: number;
}

export type AdminResponse =
  | { ok: true; status: AdminStatus }
  | { ok: true; members: MemberInfo[] }
  | { ok: true; result: MembershipResult | TransferResult }
  | { ok: false; error: RpcErrorBody };

/** How a failed request is carried back; `code` lets clients rebuild the error kind. */
export interface RpcErrorBody {
  code: 'not-leader' | 'unavailable' | 'timeout' | 'storage' | 'stopped' | 'denied' | 'bad-request' | 'internal';
  message: string;
  leader?: string | null;
}

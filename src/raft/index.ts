// Public surface of the Raft library: the node the DCS and `hactl raft node` run, its errors,
// the admin protocol and client, and the KV types.
export { RaftNode, type LeaderChange, type ReadOptions, type ReadQuery, type WriteOptions } from './node.js';
export { DEFAULTS as RAFT_DEFAULTS, RaftConfigError, type RaftNodeOptions } from './node/options.js';
export { RaftRequestDenied, RaftStopped, RaftStorageError, RaftTimeout, RaftUnavailable } from './node/errors.js';
export { RaftNotLeader } from './node/rpc.js';
export { RaftAdminClient, withAdminClient, type AdminClientOptions } from './admin/client.js';
export type { AdminStatus, MemberInfo, MembershipResult, TransferResult } from './admin/protocol.js';
export type { KvCommand, KvEntry, KvEvent, KvResult, Logger } from './kv/types.js';
export type { Membership } from './core/types.js';

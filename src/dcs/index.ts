// Public surface of the cluster-state store layer (DESIGN.md "Cluster keys").
export type * from './types.js';
export { DcsError, DcsUnavailable } from './errors.js';
export { clusterKeys, DEFAULT_NAMESPACE, type ClusterKeys } from './keys.js';
export { ManualClock, systemClock, type DcsClock } from './clock.js';
export { withRetryTimeout } from './deadline.js';
export {
  decodeConfig,
  decodeFailsafe,
  decodeFailover,
  decodeHistory,
  decodeMember,
  decodeStatus,
  decodeSyncState,
  emptyStatus,
  encodeFailover,
  encodeFailsafe,
  encodeHistory,
  encodeMember,
  encodeStatus,
  encodeSyncState,
} from './codec.js';
export { MemoryDcs } from './memory.js';
export { MemoryDcsStore, type MemoryKeyChange } from './memory-store.js';
export { DEFAULT_RETRY_TIMEOUT_MS } from './store-plumbing.js';
export { leaseDeadlineMonoMs, LEASE_MAX_DRIFT_RATIO } from './lease.js';
export { RaftDcs, startRaftDcs, type RaftDcsOptions, type RaftSection, type StartRaftDcsOptions } from './raft.js';

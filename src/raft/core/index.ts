export { RaftCore, type PeerStatus, type RaftStatus } from './raft.js';
export type { MembershipChange, MembershipChangeResult } from './membership-change.js';
export type { TransferResult } from './transfer.js';
export type { ProgressState } from './progress.js';
export * from './types.js';

// Public surface of the HA decision: the loop imports from here.
export type * from './types.js';
export { decide, needsMemberHealth } from './decide.js';
export { leaseCoversNextCycle } from './lease-loss.js';
export { clusterTimeline, failoverPriority, isNoFailover, walPosition } from './health.js';
export { haConfigFrom, DEFAULT_DEMOTE_TIME_MS } from './config.js';

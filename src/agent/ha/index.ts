// Public surface of the HA decision: the loop imports from here.
export type * from './types.js';
export { decide, needsMemberHealth } from './decide.js';
export { leaseCoversNextCycle } from './lease-loss.js';
export { failoverPriority, isNoFailover, walPosition } from './candidate-facts.js';
export { clusterTimeline } from './failover-eligibility.js';
export { haConfigFrom, primaryStopBoundMs, DEFAULT_DEMOTE_TIME_MS } from './config.js';

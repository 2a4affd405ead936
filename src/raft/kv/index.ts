export type { ClientCommand, ExpireCommand, KvCommand, KvEntry, KvEvent, KvFailure, KvResult, Logger } from './types.js';
export { checkClientCommand, decodeCommand, encodeCommand, isClientCommand, KvCommandError, type KvInput } from './command.js';
export { DEFAULT_MAX_DRIFT_RATIO, holderDeadlineMs } from './lease.js';
export { KvStore, KvStoreError, underPrefix, type KvListener, type KvStats, type KvStoreOptions } from './store.js';
export { ExpiryScheduler } from './expiry.js';

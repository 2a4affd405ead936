export type { LoadedState, RaftStorage } from './types.js';
export { MemoryStorage } from './memory.js';
export { FileStorage, type FileStorageOptions } from './file-storage.js';
export { nodeFs, type StorageFs } from './fs.js';
export { StorageCorruptError, StorageIoError } from './errors.js';

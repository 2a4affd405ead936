export type { LoadedState, RaftStorage } from './types.js';
export { MemoryStorage } from './memory.js';
export { FileStorage, type FileStorageOptions } from './file-storage.js';
export { nodeFs, type StorageFs } from './fs.js';
export { StorageCorruptError, StorageIoError } from './errors.js';
export { openDataDir } from './data-dir.js';
export { readVoterFile, RECOVERED_VOTE, VOTER_FILE, type RecoveryState, type VoterState } from './voter-file.js';
export { recoverDataDir, salvageTerm, type RecoverResult } from './recover.js';

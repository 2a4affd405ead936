/** A write, fsync, rename or read of a storage file failed; nothing after the failure is durable. */
export class StorageIoError extends Error {
  /** errno code such as ENOSPC or EIO, when the OS gave one. */
  readonly code: string | undefined;

  constructor(operation: string, file: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`raft storage: ${operation} ${file} failed: ${reason}`, { cause });
    this.name = 'StorageIoError';
    this.code = code;
  }
}

/** The data directory holds something we cannot safely start from (e.g. a damaged snapshot). */
export class StorageCorruptError extends Error {
  constructor(message: string) {
    super(`raft storage: ${message}`);
    this.name = 'StorageCorruptError';
  }
}

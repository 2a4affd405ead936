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

/**
 * The data directory holds damage that is not provably an unacknowledged torn write: starting from
 * it could roll back this member's term, vote or acknowledged log, so the member refuses to start.
 * The message names the file, the offset and the way back (recover as a learner).
 */
export class StorageCorruptError extends Error {
  constructor(
    detail: string,
    readonly file: string | null = null,
    readonly offset: number | null = null,
    readonly dataDir: string | null = null,
  ) {
    super(
      `raft storage: ${detail}` +
        (dataDir === null
          ? ''
          : `; refusing to start: this member may have acknowledged what is damaged, and starting it as a voter ` +
            `could roll back its term, vote or log. Bring it back as a learner that catches up from the running ` +
            `cluster: stop it, run \`hactl raft recover --data-dir ${dataDir}\`, start it again (hactl-raft(1), RECOVERY)`),
    );
    this.name = 'StorageCorruptError';
  }
}

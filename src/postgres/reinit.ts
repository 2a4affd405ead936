// Reinitialising a member: stop it, remove its data directory (only the configured one, and only when it is
// recognisably a PostgreSQL data directory owned by our OS user), clone it again from the primary.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { BasebackupProgress } from './basebackup-progress.js';
import type { CloneSource } from './basebackup.js';
import { DataDirError, PostgresStateError } from './errors.js';
import { getStatus, start, stop } from './lifecycle.js';
import { createReplica, type CreateReplicaResult } from './replica.js';
import { emptyDirForUser, removeTreeForUser } from './user-files.js';
import type { PgContext, StandbyTarget } from './types.js';

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

/**
 * Removes the configured data directory. Refuses when the server runs, when the directory is not owned by the
 * OS user, or when it is not empty and holds neither PG_VERSION nor global/pg_control (then it is not ours to
 * delete: a wrong data_dir must never wipe an unrelated directory). A mount point is emptied, not removed.
 */
export async function removeDataDirectory(ctx: PgContext): Promise<void> {
  const dataDir = path.resolve(ctx.options.data_dir);
  if ((await getStatus(ctx)).state === 'running') {
    throw new PostgresStateError(`refusing to remove ${dataDir}: PostgreSQL is still running there`);
  }
  let st;
  try {
    st = await fs.lstat(dataDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isDirectory()) throw new DataDirError(dataDir, 'is not a directory; refusing to remove it');
  if (dataDir === path.dirname(dataDir)) throw new DataDirError(dataDir, 'is the root directory; refusing to remove it');
  if (ctx.user.switchUser && st.uid !== ctx.user.uid) {
    throw new DataDirError(dataDir, `is owned by uid ${st.uid}, not ${ctx.user.name}; refusing to remove another user's directory`);
  }
  const entries = await fs.readdir(dataDir);
  const recognised = (await exists(path.join(dataDir, 'PG_VERSION'))) || (await exists(path.join(dataDir, 'global', 'pg_control')));
  if (entries.length > 0 && !recognised) {
    throw new DataDirError(dataDir, 'does not look like a PostgreSQL data directory (no PG_VERSION, no global/pg_control); refusing to remove it');
  }
  const parent = await fs.stat(path.dirname(dataDir));
  // As the OS user where it is the user's tree (user-files.ts): root deleting it could be steered by links.
  if (parent.dev !== st.dev) await emptyDirForUser(dataDir, ctx.user);
  else await removeTreeForUser(dataDir, ctx.user);
}

export interface ReinitOptions {
  source: CloneSource;
  follow?: StandbyTarget | null;
  onProgress?: (progress: BasebackupProgress) => void;
  /** Start the new replica (default true). */
  startAfter?: boolean;
  timeoutMs?: number;
}

/** stop (immediate, as Patroni's reinitialize) → remove the data directory → clone → start as a standby. */
export async function reinit(ctx: PgContext, options: ReinitOptions): Promise<CreateReplicaResult> {
  await stop(ctx, { mode: 'immediate' });
  await removeDataDirectory(ctx);
  const follow = options.follow === undefined ? { host: options.source.host, port: options.source.port } : options.follow;
  const result = await createReplica(ctx, { source: options.source, follow, onProgress: options.onProgress, timeoutMs: options.timeoutMs });
  if (options.startAfter ?? true) await start(ctx);
  return result;
}

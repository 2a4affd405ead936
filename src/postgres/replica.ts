// Creating a replica's data directory: `create_replica_methods` tried in order (basebackup by default, or a
// custom command), each writing into a staging directory that only becomes the data directory once it holds
// a complete copy. A failed or interrupted clone therefore never leaves something that looks like a data
// directory at data_dir. Afterwards the per-node configuration is written again, because the copy carries
// the source's (its port, its postgresql.auto.conf).
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { BasebackupProgress } from './basebackup-progress.js';
import { replicationConninfo, runBasebackup, type CloneSource } from './basebackup.js';
import { pgpassPathOf } from './context.js';
import { DataDirError, PostgresConfigError, PostgresError } from './errors.js';
import { runShell } from './exec.js';
import { chownForUser, isEmptyDir, writeFileForUser } from './os-user.js';
import type { PgContext, StandbyTarget } from './types.js';
import { writeConfiguration } from './write-config.js';

export interface CreateReplicaOptions {
  /** Where to copy from: the leader or a clonefrom member. Null when there is no leader (only no_leader methods run). */
  source: CloneSource | null;
  /** The primary the new replica follows once started (usually the leader; may differ from `source`). */
  follow: StandbyTarget | null;
  onProgress?: (progress: BasebackupProgress) => void;
  /** Called when a method fails and the next one is tried. */
  onMethodFailed?: (method: string, error: Error) => void;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface CreateReplicaResult {
  method: string;
  elapsedMs: number;
  /** Failures of earlier methods, in order. */
  failures: Array<{ method: string; error: string }>;
}

/** Every method failed (or none could run). The data directory was left as it was before (absent or empty). */
export class ReplicaCreationFailed extends PostgresError {
  readonly failures: Array<{ method: string; error: string }>;
  constructor(dataDir: string, failures: Array<{ method: string; error: string }>) {
    super(
      `could not create replica in ${dataDir}: ${failures.map((f) => `${f.method}: ${f.error}`).join('; ') || 'no replica creation method could run'}`,
    );
    this.failures = failures;
  }
}

/** True when `dir` holds what a data directory needs to start (pg_basebackup writes both at the end). */
export async function looksLikeDataDir(dir: string): Promise<boolean> {
  const files = ['PG_VERSION', 'global/pg_control'];
  for (const f of files) {
    try {
      await fs.access(path.join(dir, f));
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Where a method writes. When data_dir does not exist the copy goes to a hidden sibling that is renamed into
 * place (atomic). When data_dir exists empty (typically a mount point, which cannot be replaced) the copy goes
 * to a hidden subdirectory whose entries are moved up at the end, PG_VERSION and global last, so an
 * interrupted move never yields something with both.
 */
interface Staging {
  dir: string;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

async function createStaging(ctx: PgContext): Promise<Staging> {
  const dataDir = path.resolve(ctx.options.data_dir);
  const suffix = randomBytes(4).toString('hex');
  let exists = true;
  try {
    const st = await fs.stat(dataDir);
    if (!st.isDirectory()) throw new DataDirError(dataDir, 'exists but is not a directory');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    exists = false;
  }
  if (exists && !(await isEmptyDir(dataDir))) {
    throw new DataDirError(dataDir, 'is not empty; refusing to create a replica over it (reinitialize removes it first)');
  }
  if (!exists) {
    await fs.mkdir(path.dirname(dataDir), { recursive: true });
    const dir = path.join(path.dirname(dataDir), `.${path.basename(dataDir)}.hactl-clone-${suffix}`);
    await fs.mkdir(dir, { mode: 0o700 });
    await chownForUser(dir, ctx.user, 0o700);
    return {
      dir,
      commit: () => fs.rename(dir, dataDir),
      discard: () => fs.rm(dir, { recursive: true, force: true }),
    };
  }
  await chownForUser(dataDir, ctx.user, 0o700);
  const dir = path.join(dataDir, `.hactl-clone-${suffix}`);
  await fs.mkdir(dir, { mode: 0o700 });
  await chownForUser(dir, ctx.user, 0o700);
  return {
    dir,
    async commit() {
      const last = new Set(['PG_VERSION', 'global']);
      const names = await fs.readdir(dir);
      for (const name of [...names.filter((n) => !last.has(n)), ...names.filter((n) => last.has(n))]) {
        await fs.rename(path.join(dir, name), path.join(dataDir, name));
      }
      await fs.rmdir(dir);
    },
    discard: () => fs.rm(dir, { recursive: true, force: true }),
  };
}

/** Staging directories left by a clone that was killed with the agent (names only we use). */
async function removeStaleStaging(ctx: PgContext): Promise<void> {
  const dataDir = path.resolve(ctx.options.data_dir);
  const siblingPrefix = `.${path.basename(dataDir)}.hactl-clone-`;
  for (const name of await fs.readdir(path.dirname(dataDir)).catch(() => [] as string[])) {
    if (name.startsWith(siblingPrefix)) await fs.rm(path.join(path.dirname(dataDir), name), { recursive: true, force: true });
  }
  for (const name of await fs.readdir(dataDir).catch(() => [] as string[])) {
    if (name.startsWith('.hactl-clone-')) await fs.rm(path.join(dataDir, name), { recursive: true, force: true });
  }
}

/** Runs a custom replica method like Patroni: `<command> --scope=.. --datadir=.. --role=replica --connstring=.. --<opt>=..`. */
async function runCustomMethod(ctx: PgContext, name: string, targetDir: string, source: CloneSource | null, opts: CreateReplicaOptions): Promise<void> {
  const spec = ctx.options.replica_methods?.[name];
  if (!spec?.command) throw new PostgresConfigError(`create_replica_methods names ${name} but postgresql.${name}.command is not set`);
  const connstring = source ? replicationConninfo(ctx, source, `${ctx.options.name}_${name}`) : '';
  const args: string[] = [];
  if (!spec.no_params) {
    args.push(`--scope=${ctx.options.scope ?? ''}`, `--datadir=${targetDir}`, '--role=replica', `--connstring=${connstring}`);
    for (const [key, value] of Object.entries(spec)) {
      if (['command', 'keep_data', 'no_params', 'no_leader'].includes(key) || value === undefined) continue;
      args.push(`--${key}=${String(value)}`);
    }
  }
  await runShell(ctx, spec.command, args, {
    env: {
      PGPASSFILE: pgpassPathOf(ctx.options),
      HACTL_DATADIR: targetDir,
      HACTL_CONNSTRING: connstring,
      HACTL_SCOPE: ctx.options.scope,
    },
    timeoutMs: opts.timeoutMs,
    signal: opts.signal,
    secrets: [ctx.options.authentication.replication.password ?? ''],
  });
}

/**
 * Creates the data directory of a replica with the first create_replica_method that succeeds, then writes the
 * per-node configuration and standby settings (following `follow`). Throws ReplicaCreationFailed when none
 * does; data_dir is then exactly as before (absent or empty).
 */
export async function createReplica(ctx: PgContext, opts: CreateReplicaOptions): Promise<CreateReplicaResult> {
  const started = Date.now();
  const methods = ctx.options.create_replica_methods?.length ? ctx.options.create_replica_methods : ['basebackup'];
  await removeStaleStaging(ctx);
  const failures: Array<{ method: string; error: string }> = [];
  for (const method of methods) {
    const custom = method === 'basebackup' ? undefined : ctx.options.replica_methods?.[method];
    if (!opts.source && !custom?.no_leader) {
      failures.push({ method, error: 'needs a running leader to copy from and there is none' });
      continue;
    }
    const staging = await createStaging(ctx);
    try {
      if (method === 'basebackup') {
        await runBasebackup(ctx, { source: opts.source!, targetDir: staging.dir, onProgress: opts.onProgress, timeoutMs: opts.timeoutMs, signal: opts.signal });
      } else {
        await runCustomMethod(ctx, method, staging.dir, opts.source, opts);
      }
      if (!(await looksLikeDataDir(staging.dir))) {
        throw new PostgresError(`${method} finished but left no PG_VERSION and global/pg_control in the data directory`);
      }
      // Before the copy becomes data_dir: should we die before writeConfiguration below, a start must not turn
      // this copy of the primary into a second primary.
      await writeFileForUser(path.join(staging.dir, 'standby.signal'), '', ctx.user, 0o600);
      await staging.commit();
    } catch (err) {
      await staging.discard().catch(() => undefined);
      const error = err instanceof Error ? err : new Error(String(err));
      failures.push({ method, error: error.message });
      opts.onMethodFailed?.(method, error);
      if (opts.signal?.aborted) break;
      continue;
    }
    await chownForUser(ctx.options.data_dir, ctx.user, 0o700);
    await writeConfiguration(ctx, { role: 'replica', primary: opts.follow });
    return { method, elapsedMs: Date.now() - started, failures };
  }
  throw new ReplicaCreationFailed(ctx.options.data_dir, failures);
}

// Creating a replica's data directory: `create_replica_methods` tried in order (basebackup by default, or a
// custom command). pg_basebackup writes into a staging directory that only becomes the data directory once
// it holds a complete copy; a custom method (pgBackRest, WAL-G, barman) restores into data_dir itself, as
// under Patroni, and what a failed one leaves is removed (unless keep_data). A failed or interrupted clone therefore never leaves something that looks like a data
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
import { isEmptyDir } from './os-user.js';
import { chownForUser, emptyDirForUser, ensureDirForUser, removeTreeForUser, writeFileForUser } from './user-files.js';
import type { ParameterValue, PgContext, ReplicaMethodOptions, StandbyTarget } from './types.js';
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
  /** Methods to try instead of `create_replica_methods` (a standby cluster's own list for its standby leader). */
  methods?: readonly string[];
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
      // A missing file is the answer: not a data directory.
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
    // A missing parent (Patroni's example data_dir: data/postgresql0) is made as bootstrap makes it, the
    // user's (ensureDirForUser): made by root here, the staging directory in it would be refused.
    const parent = path.dirname(dataDir);
    if (!(await fs.stat(parent).then(() => true, () => false))) await ensureDirForUser(parent, ctx.user, 0o700);
    const dir = path.join(path.dirname(dataDir), `.${path.basename(dataDir)}.hactl-clone-${suffix}`);
    await ensureDirForUser(dir, ctx.user, 0o700);
    return {
      dir,
      commit: () => fs.rename(dir, dataDir),
      discard: () => removeTreeForUser(dir, ctx.user),
    };
  }
  await chownForUser(dataDir, ctx.user, 0o700);
  const dir = path.join(dataDir, `.hactl-clone-${suffix}`);
  await ensureDirForUser(dir, ctx.user, 0o700);
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
    discard: () => removeTreeForUser(dir, ctx.user),
  };
}

/** Staging directories left by a clone that was killed with the agent (names only we use). */
async function removeStaleStaging(ctx: PgContext): Promise<void> {
  const dataDir = path.resolve(ctx.options.data_dir);
  const siblingPrefix = `.${path.basename(dataDir)}.hactl-clone-`;
  for (const name of await fs.readdir(path.dirname(dataDir)).catch(() => [] as string[])) {
    if (name.startsWith(siblingPrefix)) await removeTreeForUser(path.join(path.dirname(dataDir), name), ctx.user);
  }
  for (const name of await fs.readdir(dataDir).catch(() => [] as string[])) {
    if (name.startsWith('.hactl-clone-')) await removeTreeForUser(path.join(dataDir, name), ctx.user);
  }
}

/** Python's str() of a value, as Patroni renders `--key=value` (booleans as True/False). */
function pythonStr(value: ParameterValue): string {
  return typeof value === 'boolean' ? (value ? 'True' : 'False') : String(value);
}

/**
 * The arguments Patroni gives a custom replica method (bootstrap.py create_replica): every key of its
 * section but `command`, in order, then --scope, --role=replica, --datadir, --connstring; with
 * `no_params` only the section's own keys, without no_params / no_leader / keep_data.
 */
export function replicaMethodArgs(spec: ReplicaMethodOptions, fixed: { scope: string; datadir: string; connstring: string }): string[] {
  const params = new Map<string, ParameterValue>();
  for (const [key, value] of Object.entries(spec)) {
    if (key !== 'command' && value !== undefined) params.set(key, value);
  }
  if (spec.no_params) for (const key of ['no_params', 'no_leader', 'no_master', 'keep_data']) params.delete(key);
  else {
    params.set('scope', fixed.scope);
    params.set('role', 'replica');
    params.set('datadir', fixed.datadir);
    params.set('connstring', fixed.connstring);
  }
  return [...params].map(([key, value]) => `--${key}=${pythonStr(value)}`);
}

/**
 * Whether a method can run without a leader to copy from (Patroni: `no_leader`, formerly `no_master`).
 * Read as Patroni does, with Python's bool(): `no_leader: '1'` (its own acceptance harness) or `1` count.
 */
function worksWithoutLeader(spec: ReplicaMethodOptions | undefined): boolean {
  return Boolean(spec?.no_leader) || Boolean(spec?.no_master);
}

/**
 * Runs a custom replica method as Patroni does: in the data directory itself (a backup tool restores
 * into its configured path, which is data_dir), emptied first unless `keep_data` (pgBackRest --delta
 * reuses what is there), and emptied again when it fails unless `keep_data`.
 */
async function runCustomMethod(ctx: PgContext, name: string, source: CloneSource | null, opts: CreateReplicaOptions): Promise<void> {
  const spec = ctx.options.replica_methods?.[name];
  if (!spec?.command) throw new PostgresConfigError(`create_replica_methods names ${name} but postgresql.${name}.command is not set`);
  const dataDir = ctx.options.data_dir;
  await ensureDirForUser(dataDir, ctx.user, 0o700);
  if (!(await isEmptyDir(dataDir)) && !spec.keep_data) await emptyDirForUser(dataDir, ctx.user);
  const connstring = source ? replicationConninfo(ctx, source, `${ctx.options.name}_${name}`) : '';
  const args = replicaMethodArgs(spec, { scope: ctx.options.scope ?? '', datadir: dataDir, connstring });
  try {
    await runShell(ctx, spec.command, args, {
      env: { PGPASSFILE: pgpassPathOf(ctx.options) },
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      processGroup: true,
      secrets: [ctx.options.authentication.replication.password ?? ''],
    });
    if (!(await looksLikeDataDir(dataDir))) throw new PostgresError(`${name} finished but left no PG_VERSION and global/pg_control in ${dataDir}`);
  } catch (err) {
    // What the method left is not a replica; a keep_data method's files are the next run's to reuse.
    if (!spec.keep_data) await emptyDirForUser(dataDir, ctx.user).catch(() => undefined); // best effort: the method's error is what to report
    throw err;
  }
}

/** pg_basebackup into a staging directory that becomes data_dir only once it holds a complete copy. */
async function basebackupIntoPlace(ctx: PgContext, opts: CreateReplicaOptions): Promise<void> {
  const staging = await createStaging(ctx);
  try {
    await runBasebackup(ctx, { source: opts.source!, targetDir: staging.dir, onProgress: opts.onProgress, timeoutMs: opts.timeoutMs, signal: opts.signal });
    if (!(await looksLikeDataDir(staging.dir))) {
      throw new PostgresError('basebackup finished but left no PG_VERSION and global/pg_control in the data directory');
    }
    // Before the copy becomes data_dir (see createReplica): never a moment as a copy of the primary without it.
    await writeFileForUser(path.join(staging.dir, 'standby.signal'), '', ctx.user, 0o600);
    await staging.commit();
  } catch (err) {
    // A staging directory left behind is removed by the next attempt; the copy's own error is what to report.
    await staging.discard().catch(() => undefined);
    throw err;
  }
}

/**
 * Creates the data directory of a replica with the first create_replica_method that succeeds, then writes the
 * per-node configuration and standby settings (following `follow`). Throws ReplicaCreationFailed when none
 * does; data_dir is then exactly as before (absent or empty).
 */
export async function createReplica(ctx: PgContext, opts: CreateReplicaOptions): Promise<CreateReplicaResult> {
  const started = Date.now();
  const methods = opts.methods?.length ? opts.methods : ctx.options.create_replica_methods?.length ? ctx.options.create_replica_methods : ['basebackup'];
  await removeStaleStaging(ctx);
  const failures: Array<{ method: string; error: string }> = [];
  for (const method of methods) {
    const custom = method === 'basebackup' ? undefined : ctx.options.replica_methods?.[method];
    if (!opts.source && !worksWithoutLeader(custom)) {
      failures.push({ method, error: 'needs a running leader to copy from and there is none' });
      continue;
    }
    try {
      if (method === 'basebackup') await basebackupIntoPlace(ctx, opts);
      else await runCustomMethod(ctx, method, opts.source, opts);
      // Before the configuration below: should we die in between, a start must not turn this copy of the primary
      // into a second primary.
      await writeFileForUser(path.join(ctx.options.data_dir, 'standby.signal'), '', ctx.user, 0o600);
    } catch (err) {
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

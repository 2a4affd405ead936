// writeConfiguration: the ONE function that (re)writes every per-node file. pg_basebackup and pg_rewind copy
// the source's config files (including our managed postgresql.conf with the source's port, and
// postgresql.auto.conf with recovery settings), so it runs after bootstrap, after every clone and rewind,
// on promote/demote/follow and on reload of the configuration.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  BASE_CONF,
  MANAGED_MARKER,
  buildParameters,
  changedParameters,
  needsRestart,
  parseConfSettings,
  pgpassEntries,
  renderPgHba,
  renderPgIdent,
  renderPgpass,
  renderPostgresqlConf,
  sanitizeAutoConf,
} from './conf.js';
import { configDirOf, pgpassPathOf } from './context.js';
import { ensureDirForUser, readUserFile, removeUserFile, writeFileForUser } from './user-files.js';
import type { BootstrapOptions, NodeRole, PgContext } from './types.js';

export interface WriteConfigurationResult {
  /** Settings written to postgresql.conf (rendered values). */
  parameters: Map<string, string>;
  /** Settings whose value differs from the previously managed file (all of them on first write). */
  changed: string[];
  /** The changed settings that need a restart to take effect. */
  restartRequired: string[];
  /** Recovery settings removed from postgresql.auto.conf. */
  removedFromAutoConf: string[];
}

/**
 * Writes postgresql.conf (+ keeps the original as postgresql.base.conf), pg_hba.conf and pg_ident.conf when configured,
 * sanitizes postgresql.auto.conf, creates/removes standby.signal for the role and writes the pgpass file.
 */
export async function writeConfiguration(
  ctx: PgContext,
  role: NodeRole,
  extra: { bootstrap?: BootstrapOptions; keepRecoverySettings?: boolean } = {},
): Promise<WriteConfigurationResult> {
  const { options, user } = ctx;
  // Every read and write below is in directories the OS user can write: user-files.ts never follows a link there.
  const readOrNull = (file: string) => readUserFile(file, user);
  const dataDir = options.data_dir;
  const configDir = configDirOf(options);
  if (configDir !== dataDir) await ensureDirForUser(configDir, user, 0o700);

  const confPath = path.join(configDir, 'postgresql.conf');
  const basePath = path.join(configDir, BASE_CONF);
  const current = await readOrNull(confPath);
  const previous = current !== null && current.startsWith(MANAGED_MARKER) ? parseConfSettings(current) : new Map<string, string>();
  const baseExists = (await readOrNull(basePath)) !== null;
  if (!baseExists) {
    // Keep the user's (initdb's) file aside; with a separate config_dir it comes from the data dir.
    const original = current !== null && !current.startsWith(MANAGED_MARKER) ? current : configDir !== dataDir ? await readOrNull(path.join(dataDir, 'postgresql.conf')) : null;
    if (original !== null && !original.startsWith(MANAGED_MARKER)) await writeFileForUser(basePath, original, user, 0o600);
  }
  const parameters = buildParameters(options, role, ctx.binaries.majorVersion);
  await writeFileForUser(confPath, renderPostgresqlConf(parameters, baseExists || (await readOrNull(basePath)) !== null), user, 0o600);

  const autoPath = path.join(dataDir, 'postgresql.auto.conf');
  const auto = await readOrNull(autoPath);
  let removedFromAutoConf: string[] = [];
  // keepRecoverySettings: a custom bootstrap's tool (pgBackRest, barman) wrote them (keep_existing_recovery_conf).
  if (auto !== null && !extra.keepRecoverySettings) {
    const sanitized = sanitizeAutoConf(auto);
    removedFromAutoConf = sanitized.removed;
    if (sanitized.removed.length > 0) await writeFileForUser(autoPath, sanitized.text, user, 0o600);
  }

  const hba = renderPgHba(options, extra.bootstrap);
  if (hba !== null) await writeFileForUser(path.join(configDir, 'pg_hba.conf'), hba, user, 0o600);
  const ident = renderPgIdent(options);
  if (ident !== null) await writeFileForUser(path.join(configDir, 'pg_ident.conf'), ident, user, 0o600);

  const standbySignal = path.join(dataDir, 'standby.signal');
  const recoverySignal = path.join(dataDir, 'recovery.signal');
  if (role.role === 'replica') await writeFileForUser(standbySignal, '', user, 0o600);
  else if (!extra.keepRecoverySettings) await removeUserFile(standbySignal, user);
  if (role.role === 'primary' && role.recovery) await writeFileForUser(recoverySignal, '', user, 0o600);
  else if (!extra.keepRecoverySettings) await removeUserFile(recoverySignal, user);

  await writePgpass(ctx);

  const changed = changedParameters(previous, parameters);
  return { parameters, changed, restartRequired: needsRestart(changed), removedFromAutoConf };
}

/** The pgpass file (0600, owned by the OS user) with every authentication user that has a password. */
export async function writePgpass(ctx: PgContext): Promise<string> {
  const file = pgpassPathOf(ctx.options);
  await ensureParentDir(path.dirname(file), ctx);
  await writeFileForUser(file, renderPgpass(pgpassEntries(ctx.options)), ctx.user, 0o600);
  return file;
}

/** The pgpass file's directory: made (the user's, 0700) when missing; an existing one is left as it is. */
async function ensureParentDir(dir: string, ctx: PgContext): Promise<void> {
  const exists = await fs.stat(dir).then(
    () => true,
    () => false,
  );
  if (!exists) await ensureDirForUser(dir, ctx.user, 0o700);
}

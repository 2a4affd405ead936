// Creating a new cluster once: initdb with `bootstrap.initdb` options, managed configuration, start, the
// roles from `postgresql.authentication` and `bootstrap.users`, then the optional post_bootstrap command.
// Passwords travel only through files (initdb --pwfile, pgpass) and as verifiers hashed here (never in plaintext
// to the server unless SASLprep cannot be reproduced), never on a command line.
// A bootstrap that fails leaves an empty data directory, never a half-made cluster that looks usable.
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { commandLineArgs } from './basebackup.js';
import { customBootstrap } from './custom-bootstrap.js';
import { withConnection } from './connection.js';
import { localAddressOf, pgpassPathOf, rewindUserOf } from './context.js';
import { DataDirError, PostgresConfigError, PostgresError, redact } from './errors.js';
import { runPg, runShell } from './exec.js';
import { getStatus, start, stop } from './lifecycle.js';
import { isEmptyDir, prepareDataDir } from './os-user.js';
import { passwordVerifier } from './password-verifier.js';
import { chownForUser, emptyDirForUser, removeTreeForUser, writeFileForUser } from './user-files.js';
import type { BootstrapOptions, BootstrapUser, PgContext } from './types.js';
import { writeConfiguration } from './write-config.js';

/** initdb options hactl sets itself. */
const INITDB_RESERVED = new Set(['pgdata', 'D', 'pwfile', 'pwprompt', 'W', 'username', 'U']);

/** The functions pg_rewind calls on the source server (PostgreSQL docs, "pg_rewind" → Notes). */
export const REWIND_GRANTS = [
  'pg_catalog.pg_ls_dir(text, boolean, boolean)',
  'pg_catalog.pg_stat_file(text, boolean)',
  'pg_catalog.pg_read_binary_file(text)',
  'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)',
];

/** Role options allowed in `bootstrap.users[].options` (keywords of CREATE ROLE, plus CONNECTION LIMIT n). */
const ROLE_OPTION = /^(NO)?(SUPERUSER|CREATEDB|CREATEROLE|INHERIT|LOGIN|REPLICATION|BYPASSRLS)$|^CONNECTION LIMIT -?\d+$|^VALID UNTIL '[^']*'$/i;

/** `bootstrap.initdb` → initdb arguments (superuser name and data dir added). */
export function initdbArgs(bootstrap: BootstrapOptions, superuser: string, dataDir: string): string[] {
  return [...commandLineArgs(bootstrap.initdb, INITDB_RESERVED, 'bootstrap.initdb'), `--username=${superuser}`, '-D', dataDir];
}

/**
 * Keeps this session's statements out of the server log and statistics: what a role statement carries must
 * not end up there even when an operator turned statement logging on (issue 14). Needs a superuser.
 */
const QUIET_SESSION = [
  "SET log_statement = 'none'",
  'SET log_min_duration_statement = -1',
  "SET log_min_error_statement = 'panic'",
];

/** CREATE ROLE when missing, else ALTER ROLE; `options` are validated keywords, the password a hashed verifier. */
export async function createOrAlterRole(client: pg.Client, name: string, user: BootstrapUser & { login?: boolean }): Promise<void> {
  const parts: string[] = [];
  if (user.login !== false) parts.push('LOGIN');
  for (const option of user.options ?? []) {
    const normalized = option.trim().replace(/\s+/g, ' ');
    if (!ROLE_OPTION.test(normalized)) throw new PostgresConfigError(`role ${name}: option ${JSON.stringify(option)} is not a role option`);
    parts.push(normalized.toUpperCase());
  }
  if (user.password !== undefined) {
    for (const statement of QUIET_SESSION) await client.query(statement);
    const method = (await client.query<{ password_encryption: string }>('SHOW password_encryption')).rows[0]!.password_encryption;
    const verifier = await passwordVerifier(user.password, name, method);
    parts.push(`PASSWORD ${client.escapeLiteral(verifier ?? user.password)}`);
  }
  const exists = (await client.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [name])).rowCount! > 0;
  const sql = `${exists ? 'ALTER' : 'CREATE'} ROLE ${client.escapeIdentifier(name)}${parts.length ? ` WITH ${parts.join(' ')}` : ''}`;
  try {
    await client.query(sql);
  } catch (err) {
    throw new PostgresError(`could not ${exists ? 'alter' : 'create'} role ${name}: ${redact((err as Error).message, [user.password ?? ''])}`);
  }
}

/** The superuser connection URL given to post_bootstrap (the local address hactl uses itself; password via PGPASSFILE). */
export function superuserUrl(ctx: PgContext): string {
  const su = ctx.options.authentication.superuser.username;
  const { host, port } = localAddressOf(ctx.options);
  const hostPart = host.startsWith('/') ? encodeURIComponent(host) : host.includes(':') ? `[${host}]` : host;
  return `postgresql://${encodeURIComponent(su)}@${hostPart}:${port}/postgres`;
}

export interface BootstrapResult {
  /** Roles created or altered, in order. */
  roles: string[];
  durationMs: number;
}

async function createRoles(ctx: PgContext, bootstrap: BootstrapOptions): Promise<string[]> {
  const { authentication } = ctx.options;
  const roles: string[] = [];
  await withConnection(ctx, async (client) => {
    const repl = authentication.replication;
    await createOrAlterRole(client, repl.username, { password: repl.password, options: ['REPLICATION'] });
    roles.push(repl.username);
    const rewind = rewindUserOf(ctx.options);
    if (rewind.username !== authentication.superuser.username) {
      await createOrAlterRole(client, rewind.username, { password: rewind.password });
      for (const fn of REWIND_GRANTS) await client.query(`GRANT EXECUTE ON FUNCTION ${fn} TO ${client.escapeIdentifier(rewind.username)}`);
      roles.push(rewind.username);
    }
    for (const [name, user] of Object.entries(bootstrap.users ?? {})) {
      await createOrAlterRole(client, name, user);
      roles.push(name);
    }
  });
  return roles;
}

/**
 * Bootstraps a new primary in an empty (or missing) data directory and leaves it running. On failure the
 * server is stopped and the data directory emptied before the error is rethrown.
 */
export async function bootstrap(ctx: PgContext, options: BootstrapOptions = {}): Promise<BootstrapResult> {
  const began = Date.now();
  const dataDir = ctx.options.data_dir;
  await prepareDataDir(dataDir, ctx.user);
  if (!(await isEmptyDir(dataDir))) throw new DataDirError(dataDir, 'is not empty; bootstrap needs an empty or missing data directory');
  const superuser = ctx.options.authentication.superuser;
  const secrets = [superuser.password ?? ''];
  let pwDir: string | null = null;
  try {
    if (options.method) {
      await customBootstrap(ctx, options.method, options, secrets);
    } else {
      pwDir = await initdb(ctx, options, secrets);
      await writeConfiguration(ctx, { role: 'primary' }, { bootstrap: options });
      await start(ctx);
    }
    const roles = await createRoles(ctx, options);
    const hook = options.post_bootstrap ?? options.post_init;
    if (hook) {
      await runShell(ctx, hook, [superuserUrl(ctx)], { env: { PGPASSFILE: pgpassPathOf(ctx.options) }, timeoutMs: 600_000, secrets });
    }
    return { roles, durationMs: Date.now() - began };
  } catch (err) {
    await abandon(ctx);
    throw err;
  } finally {
    if (pwDir) await removeTreeForUser(pwDir, ctx.user);
  }
}

/** initdb with the superuser's password from a file in a private temporary directory (returned, for removal). */
async function initdb(ctx: PgContext, options: BootstrapOptions, secrets: string[]): Promise<string | null> {
  const superuser = ctx.options.authentication.superuser;
  const args = initdbArgs(options, superuser.username, ctx.options.data_dir);
  let pwDir: string | null = null;
  if (superuser.password !== undefined) {
    pwDir = await mkdtemp(path.join(os.tmpdir(), 'hactl-initdb-'));
    await chownForUser(pwDir, ctx.user, 0o700);
    await writeFileForUser(path.join(pwDir, 'pwfile'), `${superuser.password}\n`, ctx.user, 0o600);
    args.push(`--pwfile=${path.join(pwDir, 'pwfile')}`);
  }
  try {
    await runPg(ctx, 'initdb', args, { timeoutMs: 300_000, secrets });
  } catch (err) {
    if (pwDir) await removeTreeForUser(pwDir, ctx.user);
    throw err;
  }
  return pwDir;
}

/** Stops a half-bootstrapped server and empties its data directory (which we verified was empty before). */
async function abandon(ctx: PgContext): Promise<void> {
  // Best effort on a failure path: the data directory is emptied next either way, and the caller reports the original error.
  if ((await getStatus(ctx)).state === 'running') await stop(ctx, { mode: 'immediate' }).catch(() => {});
  // As the OS user: the half-made data directory is the user's, whatever it holds by now.
  await emptyDirForUser(ctx.options.data_dir, ctx.user).catch(() => undefined); // best effort: the bootstrap error is what the caller reports
}

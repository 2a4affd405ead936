// Shared fixtures for tests against the real PostgreSQL binaries: free ports, temp dirs the postgres user can
// use, an initdb template made once per test process (copying it with `cp -a` takes ~80 ms, initdb 1–2 s),
// a quick primary, and a registry that stops every server we started (pg_ctl stop -m immediate) even when a
// test fails. Call `after(cleanupPostgres)` in every file that starts servers.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createContext } from '../../src/postgres/context.js';
import { runPg, run } from '../../src/postgres/exec.js';
import { start, stop } from '../../src/postgres/lifecycle.js';
import { chownForUser, resolveOsUser } from '../../src/postgres/os-user.js';
import { findBinaries } from '../../src/postgres/binaries.js';
import { writeConfiguration } from '../../src/postgres/write-config.js';
import { withConnection } from '../../src/postgres/connection.js';
import { freePort } from './net.js';
import type { NodeRole, PgContext, PgOsUser, PostgresOptions } from '../../src/postgres/types.js';

export const REPLICATION_USER = { username: 'replicator', password: 'rep-pass:with\\odd chars' };
export const REWIND_USER = { username: 'rewinder', password: 'rewind-pass' };
export const SUPERUSER = { username: 'postgres' };

// Free ports come from the shared network fixture; re-exported so postgres tests need one import.
export { freePort };

let userPromise: Promise<PgOsUser> | null = null;
export function pgUser(): Promise<PgOsUser> {
  userPromise ??= resolveOsUser('postgres');
  return userPromise;
}

const tempDirs = new Set<string>();
const servers = new Map<string, PgContext>();

/** A fresh temp directory owned by the postgres user (mode 0700), removed by cleanupPostgres. */
export async function tempDirForPostgres(prefix = 'hactl-pg-'): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  await chownForUser(dir, await pgUser(), 0o700);
  return dir;
}

/**
 * Options for a test node under `base` (a tempDirForPostgres): data dir `<base>/data` (not created), socket
 * dir `<base>` (short path: unix socket paths are limited to ~107 bytes), pgpass `<base>/pgpass`, a free port,
 * fsync off for speed.
 */
export async function testOptions(base: string, overrides: Partial<PostgresOptions> = {}): Promise<PostgresOptions> {
  const port = await freePort();
  return {
    name: 'node1',
    scope: 'hactl-test',
    data_dir: path.join(base, 'data'),
    listen: `127.0.0.1:${port}`,
    connect_address: `127.0.0.1:${port}`,
    socketDir: base,
    pgpass: path.join(base, 'pgpass'),
    authentication: { superuser: SUPERUSER, replication: REPLICATION_USER, rewind: REWIND_USER },
    use_pg_rewind: true,
    pg_ctl_timeout: 30,
    ...overrides,
    parameters: { fsync: 'off', synchronous_commit: 'off', ...overrides.parameters },
  };
}

/** Builds a context (real binaries, postgres OS user) for options. */
export async function testContext(options: PostgresOptions): Promise<PgContext> {
  const user = await pgUser();
  return createContext(options, { user, binaries: await findBinaries({ bin_dir: options.bin_dir, user }) });
}

/** Remember a server so cleanupPostgres stops it, even if the test fails half-way. */
export function registerServer(ctx: PgContext): void {
  servers.set(ctx.options.data_dir, ctx);
}

let templatePromise: Promise<string> | null = null;

/**
 * A data directory made once per process: initdb (trust auth, UTF8, C.UTF-8, no fsync) plus the roles the
 * tests use: `replicator` (REPLICATION) and `rewinder` (with pg_rewind's grants), both with passwords.
 */
export function templateDataDir(): Promise<string> {
  templatePromise ??= (async () => {
    const base = await tempDirForPostgres('hactl-tpl-');
    const options = await testOptions(base);
    const ctx = await testContext(options);
    await runPg(ctx, 'initdb', ['-D', options.data_dir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '-N'], {
      timeoutMs: 60_000,
    });
    await writeConfiguration(ctx, { role: 'primary' });
    registerServer(ctx);
    await start(ctx);
    await withConnection(ctx, async (c) => {
      await c.query(`CREATE ROLE replicator WITH LOGIN REPLICATION PASSWORD ${c.escapeLiteral(REPLICATION_USER.password)}`);
      await c.query(`CREATE ROLE rewinder WITH LOGIN PASSWORD ${c.escapeLiteral(REWIND_USER.password)}`);
      for (const fn of ['pg_ls_dir(text, boolean, boolean)', 'pg_stat_file(text, boolean)', 'pg_read_binary_file(text)', 'pg_read_binary_file(text, bigint, bigint, boolean)']) {
        await c.query(`GRANT EXECUTE ON FUNCTION pg_catalog.${fn} TO rewinder`);
      }
    });
    await stop(ctx, { mode: 'fast' });
    servers.delete(options.data_dir);
    // The template's managed conf names its own port; writeConfiguration rewrites it for each copy.
    await fs.rm(path.join(options.data_dir, 'log'), { recursive: true, force: true });
    return options.data_dir;
  })();
  return templatePromise;
}

/** Copies the template to `dataDir` (which must not exist) with `cp -a` (keeps owner and modes). */
export async function copyTemplate(dataDir: string): Promise<void> {
  await run('cp', ['-a', await templateDataDir(), dataDir], { timeoutMs: 60_000 });
}

export interface TestServer {
  ctx: PgContext;
  options: PostgresOptions;
  port: number;
  base: string;
}

/** A running primary from the template: temp dir, free port, managed configuration, started, registered. */
export async function startPrimary(overrides: Partial<PostgresOptions> = {}, role: NodeRole = { role: 'primary' }): Promise<TestServer> {
  const base = await tempDirForPostgres();
  const options = await testOptions(base, overrides);
  const ctx = await testContext(options);
  await copyTemplate(options.data_dir);
  await writeConfiguration(ctx, role);
  registerServer(ctx);
  await start(ctx);
  return { ctx, options, port: Number(options.listen.split(':').pop()), base };
}

function stopSync(ctx: PgContext): void {
  spawnSync(ctx.binaries.path('pg_ctl'), ['stop', '-D', ctx.options.data_dir, '-m', 'immediate', '-w', '-t', '10'], {
    stdio: 'ignore',
    cwd: '/',
    ...(ctx.user.switchUser ? { uid: ctx.user.uid, gid: ctx.user.gid } : {}),
  });
}

/**
 * Removes one temp dir made by tempDirForPostgres (a cluster's member base, at its teardown). Only
 * that one: another cluster of the same test file may still run in its own dirs.
 */
export async function removeTempDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true, maxRetries: 5 });
  tempDirs.delete(dir);
}

/** Stops every registered server (immediate) and removes every temp dir. Use in `after`. */
export async function cleanupPostgres(): Promise<void> {
  for (const ctx of servers.values()) {
    await runPg(ctx, 'pg_ctl', ['stop', '-D', ctx.options.data_dir, '-m', 'immediate', '-w', '-t', '10'], { timeoutMs: 20_000 }).catch(() => {});
  }
  servers.clear();
  for (const dir of tempDirs) {
    if (templatePromise && (await templatePromise.catch(() => '')).startsWith(dir)) continue; // kept until exit
    await fs.rm(dir, { recursive: true, force: true, maxRetries: 5 });
    tempDirs.delete(dir);
  }
}

// Last resort when a test process exits without running `after` (crash, timeout): stop synchronously.
process.on('exit', () => {
  for (const ctx of servers.values()) stopSync(ctx);
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

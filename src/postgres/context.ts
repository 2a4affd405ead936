// Builds the PgContext for one local instance (binaries + OS user + options) and derives the per-node
// values several files need: listen host/port, socket dir, config dir, pgpass path, log file.
import os from 'node:os';
import path from 'node:path';
import { findBinaries } from './binaries.js';
import { PostgresConfigError } from './errors.js';
import { resolveOsUser } from './os-user.js';
import type { AuthUser, PgBinaries, PgContext, PgOsUser, PostgresOptions } from './types.js';

export const DEFAULT_SOCKET_DIR = '/var/run/postgresql';
export const DEFAULT_PG_CTL_TIMEOUT_SECONDS = 60;

/** Parses `host[,host...]:port` (IPv6 hosts in brackets) → hosts and port. */
export function parseListen(listen: string): { hosts: string[]; port: number } {
  const match = /^(.*):(\d+)$/.exec(listen.trim());
  if (!match) throw new PostgresConfigError(`postgresql.listen ${JSON.stringify(listen)} must be host[,host...]:port`);
  const port = Number(match[2]);
  if (port < 1 || port > 65535) throw new PostgresConfigError(`postgresql.listen port ${port} is out of range`);
  const hosts = match[1]!
    .split(',')
    .map((h) => h.trim().replace(/^\[(.*)\]$/, '$1'))
    .filter((h) => h !== '');
  if (hosts.length === 0) throw new PostgresConfigError(`postgresql.listen ${JSON.stringify(listen)} names no host`);
  return { hosts, port };
}

/** Parses `host:port` (connect_address) → host and port. */
export function parseHostPort(address: string): { host: string; port: number } {
  const { hosts, port } = parseListen(address);
  return { host: hosts[0]!, port };
}

export function portOf(options: PostgresOptions): number {
  return parseListen(options.listen).port;
}

export function socketDirOf(options: PostgresOptions): string {
  if (options.socketDir) return options.socketDir;
  const fromParams = options.parameters?.unix_socket_directories;
  if (typeof fromParams === 'string' && fromParams.trim() !== '') return fromParams.split(',')[0]!.trim();
  return DEFAULT_SOCKET_DIR;
}

export function configDirOf(options: PostgresOptions): string {
  return options.config_dir ?? options.data_dir;
}

export function pgpassPathOf(options: PostgresOptions): string {
  return options.pgpass ?? path.join(os.tmpdir(), `pgpass.${options.name}`);
}

export function logFileOf(options: PostgresOptions): string {
  return options.logFile ?? path.join(options.data_dir, 'log', 'postmaster.log');
}

export function pgCtlTimeoutMs(options: PostgresOptions): number {
  return (options.pg_ctl_timeout ?? DEFAULT_PG_CTL_TIMEOUT_SECONDS) * 1000;
}

export function rewindUserOf(options: PostgresOptions): AuthUser {
  return options.authentication.rewind ?? options.authentication.superuser;
}

/** Resolves the OS user and binaries for `options`. Throws OsUserMissing / BinariesNotFound. */
export async function createContext(
  options: PostgresOptions,
  resolved: { user?: PgOsUser; binaries?: PgBinaries } = {},
): Promise<PgContext> {
  const user = resolved.user ?? (await resolveOsUser(options.osUser));
  const binaries = resolved.binaries ?? (await findBinaries({ bin_dir: options.bin_dir, user }));
  return { options, user, binaries };
}

// Builds the PgContext for one local instance (binaries + OS user + options) and derives the per-node
// values several files need: listen host/port, socket dir, config dir, pgpass path, log file.
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

/**
 * The server's first socket directory. PostgreSQL reads a relative entry (Patroni's example config has
 * `unix_socket_directories: '..'`) against the data directory, so do we: taken against the agent's working
 * directory it would name, and chown, a directory the server never uses.
 */
export function socketDirOf(options: PostgresOptions): string {
  if (options.socketDir) return options.socketDir;
  const fromParams = options.parameters?.unix_socket_directories;
  if (typeof fromParams === 'string' && fromParams.trim() !== '') return path.resolve(options.data_dir, fromParams.split(',')[0]!.trim());
  return DEFAULT_SOCKET_DIR;
}

/** Listen addresses that mean "this host on IPv4" / "on IPv6": a local client reaches them on loopback. */
const IPV4_LOCAL = new Set(['*', '0.0.0.0', '127.0.0.1', 'localhost']);
const IPV6_LOCAL = new Set(['::', '::1']);

/**
 * The TCP host local connections use, as Patroni picks it: loopback when PostgreSQL listens on a
 * wildcard or loopback address (127.0.0.1 rather than `localhost`, which may resolve to ::1 where
 * the server does not listen), else the first listen address.
 */
export function localTcpHostOf(options: PostgresOptions): string {
  const { hosts } = parseListen(options.listen);
  const lower = hosts.map((h) => h.toLowerCase());
  if (lower.some((h) => IPV4_LOCAL.has(h))) return '127.0.0.1';
  if (lower.some((h) => IPV6_LOCAL.has(h))) return '::1';
  return hosts[0]!;
}

/**
 * Where hactl's own connections to its local server go: TCP to localTcpHostOf unless
 * `use_unix_socket` (superuser connections) or `use_unix_socket_repl` (replication connections) asks
 * for the socket directory. Patroni does the same, so a pg_hba with only `host` lines works as it does there.
 */
export function localAddressOf(options: PostgresOptions, kind: 'superuser' | 'replication' = 'superuser'): { host: string; port: number; socket: boolean } {
  const port = portOf(options);
  const socket = kind === 'replication' ? options.use_unix_socket_repl === true : options.use_unix_socket === true;
  return socket ? { host: socketDirOf(options), port, socket } : { host: localTcpHostOf(options), port, socket };
}

export function configDirOf(options: PostgresOptions): string {
  return options.config_dir ?? options.data_dir;
}

/**
 * Default `<data_dir>.pgpass`: beside the data directory, whose parent exists and belongs to the OS user
 * or to root, and unique per instance. Never the temp directory, where any user can plant a link at the
 * name or read what a careless umask leaves behind.
 */
export function pgpassPathOf(options: PostgresOptions): string {
  return options.pgpass ?? `${path.resolve(options.data_dir)}.pgpass`;
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

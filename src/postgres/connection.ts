// SQL connections to the local server (unix socket, as the superuser by default) and to remote members.
// `pg` is imported lazily: CLI commands that never talk to PostgreSQL should not pay for loading it.
import type pg from 'pg';
import { parseListen, portOf, socketDirOf } from './context.js';
import { PostgresNotReady, redact } from './errors.js';
import type { AuthUser, PgContext } from './types.js';

export interface ConnectOptions {
  /** Role to connect as; the superuser when absent. */
  user?: AuthUser;
  database?: string;
  /** host (or socket dir) and port; the local unix socket when absent. */
  host?: string;
  port?: number;
  connectTimeoutMs?: number;
  /** `replication: 'database'|true` opens a walsender connection (IDENTIFY_SYSTEM, TIMELINE_HISTORY). */
  replication?: boolean | 'database';
  applicationName?: string;
}

let pgModule: Promise<typeof pg> | null = null;
export function loadPg(): Promise<typeof pg> {
  pgModule ??= import('pg').then((m) => (m.default ?? m) as typeof pg);
  return pgModule;
}

/**
 * Connects to the local server (or host/port) and returns an open pg.Client; the caller ends it. Locally the
 * unix socket is tried first; when peer authentication rejects us (hactl runs as root, the role is postgres:
 * `auth-local: peer`) it retries over TCP on the first listen address, where a password can be used.
 */
export async function connect(ctx: PgContext, options: ConnectOptions = {}): Promise<pg.Client> {
  try {
    return await connectOnce(ctx, options);
  } catch (err) {
    if (options.host !== undefined || !/peer authentication failed/i.test((err as Error).message)) throw err;
    const host = parseListen(ctx.options.listen).hosts[0]!;
    return connectOnce(ctx, { ...options, host: host === '*' || host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host });
  }
}

async function connectOnce(ctx: PgContext, options: ConnectOptions): Promise<pg.Client> {
  const { Client } = await loadPg();
  const auth = options.user ?? ctx.options.authentication.superuser;
  const config: pg.ClientConfig & { replication?: string } = {
    host: options.host ?? socketDirOf(ctx.options),
    port: options.port ?? portOf(ctx.options),
    user: auth.username,
    password: auth.password,
    database: options.database ?? 'postgres',
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    application_name: options.applicationName ?? 'hactl',
  };
  if (options.replication) config.replication = options.replication === true ? 'true' : 'database';
  const client = new Client(config);
  // An idle client whose server goes away emits 'error'; without a listener that would crash the agent.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    const e = err as Error;
    if (auth.password) e.message = redact(e.message, [auth.password]);
    throw e;
  }
  return client;
}

/** Runs `fn` with a connection that is always closed afterwards. */
export async function withConnection<T>(ctx: PgContext, fn: (client: pg.Client) => Promise<T>, options: ConnectOptions = {}): Promise<T> {
  const client = await connect(ctx, options);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** True when a connection can be made and `SELECT 1` answers. */
export async function canConnect(ctx: PgContext, options: ConnectOptions = {}): Promise<{ ok: boolean; error?: string }> {
  try {
    await withConnection(ctx, (c) => c.query('SELECT 1'), { connectTimeoutMs: 2000, ...options });
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** Polls until the server accepts connections, or throws PostgresNotReady after `timeoutMs`. */
export async function waitUntilReady(ctx: PgContext, timeoutMs: number, options: ConnectOptions = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined;
  while (true) {
    const { ok, error } = await canConnect(ctx, options);
    if (ok) return;
    last = error;
    if (Date.now() >= deadline) throw new PostgresNotReady(`PostgreSQL on port ${options.port ?? portOf(ctx.options)}`, timeoutMs, last);
    await new Promise((r) => setTimeout(r, 100));
  }
}

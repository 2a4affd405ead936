// SQL connections to the local server (as Patroni makes them: TCP to the listen address unless
// use_unix_socket; as the superuser by default) and to remote members. Every local connection of the
// agent comes through here, so a refusal is explained once, with PostgreSQL's text and what to change.
// `pg` is imported lazily: CLI commands that never talk to PostgreSQL should not pay for loading it.
import type pg from 'pg';
import { localAddressOf, localTcpHostOf, portOf } from './context.js';
import { PostgresAuthRejected, PostgresNotReady, redact } from './errors.js';
import type { AuthUser, PgContext } from './types.js';

export interface ConnectOptions {
  /** Role to connect as; the superuser when absent. */
  user?: AuthUser;
  database?: string;
  /** host (or socket dir) and port; the local server (localAddressOf) when absent. */
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
 * Connects to the local server (or host/port) and returns an open pg.Client; the caller ends it. With
 * `use_unix_socket` a peer-authentication refusal on the socket (hactl runs as root, the role is postgres)
 * is retried once over TCP, where a password can be used.
 */
export async function connect(ctx: PgContext, options: ConnectOptions = {}): Promise<pg.Client> {
  const local = options.host === undefined ? localAddressOf(ctx.options, options.replication ? 'replication' : 'superuser') : null;
  const target = { ...options, host: options.host ?? local!.host, port: options.port ?? local?.port };
  try {
    return await connectOnce(ctx, target);
  } catch (err) {
    if (!local?.socket || !(err instanceof PostgresAuthRejected) || !/peer authentication failed/i.test(err.serverMessage)) throw err;
    return connectOnce(ctx, { ...target, host: localTcpHostOf(ctx.options) });
  }
}

async function connectOnce(ctx: PgContext, options: ConnectOptions & { host: string }): Promise<pg.Client> {
  const { Client } = await loadPg();
  const auth = options.user ?? ctx.options.authentication.superuser;
  const config: pg.ClientConfig & { replication?: string } = {
    host: options.host,
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
    // The connection never opened; the connect error below is the one to report.
    await client.end().catch(() => {});
    const e = err as Error & { code?: string };
    if (auth.password) e.message = redact(e.message, [auth.password]);
    const where = options.host.startsWith('/') ? `socket ${options.host}` : `${options.host.includes(':') ? `[${options.host}]` : options.host}:${config.port}`;
    if (typeof e.code === 'string' && e.code.startsWith('28')) throw new PostgresAuthRejected(e.message, rejectionHint(ctx, e.message, auth, options), where);
    if (auth.password === undefined && /password must be a string|no password/i.test(e.message)) {
      throw new PostgresAuthRejected(e.message, `the server asks for a password: set ${authKeyOf(ctx, auth)}.password`, where);
    }
    throw e;
  }
  return client;
}

/** The config key of the role we connected as, for messages. */
function authKeyOf(ctx: PgContext, auth: AuthUser): string {
  const a = ctx.options.authentication;
  const kind = auth === a.replication ? 'replication' : auth === a.rewind ? 'rewind' : auth === a.superuser ? 'superuser' : null;
  return kind ? `postgresql.authentication.${kind}` : `the password of role ${auth.username}`;
}

/** What to change for a class-28 refusal, from PostgreSQL's message. */
export function rejectionHint(ctx: PgContext, serverMessage: string, auth: AuthUser, options: { host: string; replication?: boolean | 'database' }): string {
  const hba = /no pg_hba\.conf entry for (?:replication connection from )?host "([^"]+)", user "([^"]+)"(?:, database "([^"]+)")?/.exec(serverMessage);
  if (hba) {
    const [, host, user, database] = hba;
    if (host === '[local]') {
      return `add a \`local\` line for ${user} to postgresql.pg_hba (or bootstrap.dcs.postgresql.pg_hba), or leave postgresql.use_unix_socket unset so hactl connects over TCP`;
    }
    const db = options.replication === true || database === undefined ? 'replication' : 'all';
    const cidr = host!.includes(':') ? `${host}/128` : `${host}/32`;
    return `add a line such as \`host ${db} ${user} ${cidr} scram-sha-256\` to postgresql.pg_hba (or bootstrap.dcs.postgresql.pg_hba)`;
  }
  if (/password authentication failed/i.test(serverMessage)) {
    return `${authKeyOf(ctx, auth)}.password does not match the password of role ${auth.username} in the database`;
  }
  if (/peer authentication failed/i.test(serverMessage)) {
    return `peer authentication needs the OS user to be named ${auth.username}; use a password method on that pg_hba line, or leave postgresql.use_unix_socket unset`;
  }
  if (/role "[^"]+" does not exist/i.test(serverMessage)) return `create the role or correct ${authKeyOf(ctx, auth)}.username`;
  return 'check postgresql.pg_hba and postgresql.authentication';
}

/** Runs `fn` with a connection that is always closed afterwards. */
export async function withConnection<T>(ctx: PgContext, fn: (client: pg.Client) => Promise<T>, options: ConnectOptions = {}): Promise<T> {
  const client = await connect(ctx, options);
  try {
    return await fn(client);
  } finally {
    // Closing after the work is done (or failed): a close error would hide the result or the real error.
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

/**
 * Polls until the server accepts connections, or throws PostgresNotReady after `timeoutMs`. A server that
 * is up but refuses us (PostgresAuthRejected) throws at once: waiting would only hide the reason.
 */
export async function waitUntilReady(ctx: PgContext, timeoutMs: number, options: ConnectOptions = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined;
  while (true) {
    try {
      await withConnection(ctx, (c) => c.query('SELECT 1'), { connectTimeoutMs: 2000, ...options });
      return;
    } catch (err) {
      if (err instanceof PostgresAuthRejected) throw err;
      last = (err as Error).message;
    }
    if (Date.now() >= deadline) throw new PostgresNotReady(`PostgreSQL on port ${options.port ?? portOf(ctx.options)}`, timeoutMs, last);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * One superuser connection to the local server, kept open between calls, as Patroni keeps its own. The HA
 * loop reads the server every cycle and the REST API on every GET /patroni of a replica; a new backend
 * for each question cost far more than the question (a whole test run started about 14,000 backends,
 * a third of all CPU spent in PostgreSQL, #15).
 *
 * - The connection is opened on first use and again whenever the target (address, port, role,
 *   password) in the current context changes, as a reload may change it, and when it is older than
 *   `maxAgeMs` (10 s): a password changed in the database or a pg_hba that no longer lets us in is
 *   then reported within seconds, as it was with a connection per cycle. Patroni, which keeps its
 *   connection for good, notices only when that connection breaks.
 * - Any error drops it: the next call opens a new one, so a half-finished statement or a broken
 *   socket never carries over. A call that failed on a reused connection because the connection
 *   itself was gone (the server restarted in between) is tried once more on a fresh one.
 * - `queryTimeoutMs` bounds the work on the connection as `connectTimeoutMs` bounds opening it: a
 *   server that stops answering (SIGSTOP, a hung disk) fails the call instead of hanging the loop.
 * - One call at a time: a call that comes while another runs (a REST read during the cycle's) gets a
 *   connection of its own for that call, as before.
 * - `close()` before stopping the server: a smart shutdown waits for every session to end.
 */
import type pg from 'pg';
import { connect } from './connection.js';
import { localAddressOf } from './context.js';
import type { PgContext } from './types.js';

export interface KeptCallOptions {
  connectTimeoutMs: number;
  /** Bound on `fn`; unbounded when absent (a CHECKPOINT may take long). */
  queryTimeoutMs?: number;
}

/** How long one connection is kept before the next call opens a new one. */
export const KEPT_MAX_AGE_MS = 10_000;

/** How long close() waits for the server to end the session. */
const CLOSE_WAIT_MS = 1000;

/** SQLSTATE classes of a connection that is gone: 08 connection exception, 57P operator intervention (shutdown). */
const CONNECTION_GONE = /^(08|57P)/;

export class QueryTimedOut extends Error {
  constructor(ms: number) {
    super(`PostgreSQL did not answer within ${ms} ms`);
    this.name = 'QueryTimedOut';
  }
}

export class KeptConnection {
  private client: pg.Client | null = null;
  private target = '';
  private busy = false;
  /** Bumped on each drop, so a connection opened while close() ran is not kept after it. */
  private generation = 0;

  private openedAtMs = 0;

  constructor(
    private readonly ctx: () => PgContext,
    private readonly maxAgeMs = KEPT_MAX_AGE_MS,
  ) {}

  async run<T>(fn: (client: pg.Client) => Promise<T>, options: KeptCallOptions): Promise<T> {
    if (this.busy) return this.once(fn, options);
    this.busy = true;
    try {
      return await this.kept(fn, options);
    } finally {
      this.busy = false;
    }
  }

  private async kept<T>(fn: (client: pg.Client) => Promise<T>, options: KeptCallOptions): Promise<T> {
    const reused = this.client !== null && this.target === targetOf(this.ctx());
    try {
      return await this.attempt(fn, options);
    } catch (err) {
      if (!reused || !connectionGone(err)) throw err;
      return this.attempt(fn, options);
    }
  }

  /**
   * Ends the kept connection, if any; the next call opens a new one. Waits at most CLOSE_WAIT_MS for
   * the server to close its side: a server that does not answer (frozen, its host cut off) must not
   * hold up the stop that follows.
   */
  async close(): Promise<void> {
    const client = this.drop();
    if (!client) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([client.end().catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
  }

  /** A call on a connection of its own, closed afterwards. */
  private async once<T>(fn: (client: pg.Client) => Promise<T>, options: KeptCallOptions): Promise<T> {
    const client = await connect(this.ctx(), { connectTimeoutMs: options.connectTimeoutMs });
    return this.bounded(client, fn, options.queryTimeoutMs, false);
  }

  private async attempt<T>(fn: (client: pg.Client) => Promise<T>, options: KeptCallOptions): Promise<T> {
    const { client, kept } = await this.acquire(options.connectTimeoutMs);
    return this.bounded(client, fn, options.queryTimeoutMs, kept);
  }

  private async bounded<T>(client: pg.Client, fn: (client: pg.Client) => Promise<T>, queryTimeoutMs: number | undefined, kept: boolean): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let failed = false;
    try {
      const work = fn(client);
      if (queryTimeoutMs === undefined) return await work;
      const ms = queryTimeoutMs;
      work.catch(() => {}); // may reject after the timeout won; the connection is dropped then anyway
      return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new QueryTimedOut(ms)), ms)))]);
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      clearTimeout(timer);
      // Never reuse a connection whose last statement failed or never answered; one opened while a
      // close() ran serves only this call. Either is ended without waiting for the server.
      if (failed || !kept) {
        if (this.client === client) this.drop();
        client.end().catch(() => {});
      }
    }
  }

  private async acquire(connectTimeoutMs: number): Promise<{ client: pg.Client; kept: boolean }> {
    const ctx = this.ctx();
    const target = targetOf(ctx);
    if (this.client && (this.target !== target || performance.now() - this.openedAtMs >= this.maxAgeMs)) await this.close();
    if (this.client) return { client: this.client, kept: true };
    const generation = this.generation;
    const client = await connect(ctx, { connectTimeoutMs });
    // close() ran while it opened (a stop began): it serves this call only.
    if (generation !== this.generation) return { client, kept: false };
    this.client = client;
    this.target = target;
    this.openedAtMs = performance.now();
    client.once('end', () => {
      if (this.client === client) this.drop();
    });
    return { client, kept: true };
  }

  private drop(): pg.Client | null {
    const client = this.client;
    this.client = null;
    this.generation++;
    return client;
  }
}

function targetOf(ctx: PgContext): string {
  const { host, port } = localAddressOf(ctx.options, 'superuser');
  const { username, password } = ctx.options.authentication.superuser;
  return JSON.stringify([host, port, username, password ?? null]);
}

function connectionGone(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  // node-postgres's own errors for a closed socket carry no SQLSTATE.
  return typeof code === 'string' ? CONNECTION_GONE.test(code) : !(err instanceof QueryTimedOut);
}

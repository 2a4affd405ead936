// The agent's kept connection (src/postgres/kept-connection.ts) against a real server: one backend serves
// many calls, and a terminated backend, a restart, a failed statement, a server that stops answering and
// a changed target each lead to a fresh backend instead of an error carried into the next call.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupPostgres, startPrimary, type TestServer } from '../helpers/postgres.js';
import { withConnection } from '../../src/postgres/connection.js';
import { KeptConnection, QueryTimedOut } from '../../src/postgres/kept-connection.js';
import { restart, stop } from '../../src/postgres/lifecycle.js';
import type { PgContext } from '../../src/postgres/types.js';
import { waitUntil } from '../helpers/wait.js';

after(cleanupPostgres);

const BOUND = { connectTimeoutMs: 5000, queryTimeoutMs: 5000 };
const pidOf = (kept: KeptConnection) => kept.run(async (c) => Number((await c.query('SELECT pg_catalog.pg_backend_pid() AS p')).rows[0].p), BOUND);
const sessions = (ctx: PgContext) =>
  withConnection(ctx, async (c) =>
    Number((await c.query("SELECT count(*) AS n FROM pg_catalog.pg_stat_activity WHERE application_name = 'hactl' AND pid <> pg_catalog.pg_backend_pid()")).rows[0].n),
  );

describe('KeptConnection', () => {
  let server: TestServer;
  let ctx: PgContext;
  before(async () => {
    server = await startPrimary();
    ctx = server.ctx;
  });

  it('serves call after call from one backend', async () => {
    const kept = new KeptConnection(() => ctx);
    const pids: number[] = [];
    for (let i = 0; i < 5; i++) pids.push(await pidOf(kept));
    assert.equal(new Set(pids).size, 1, `backends used: ${pids.join(', ')}`);
    assert.equal(await sessions(ctx), 1);
    await kept.close();
    await waitUntil(async () => (await sessions(ctx)) === 0, { timeoutMs: 10_000, what: 'the kept session to end after close()' });
  });

  it('opens a fresh backend after its own was terminated, without failing the call', async () => {
    const kept = new KeptConnection(() => ctx);
    const first = await pidOf(kept);
    await withConnection(ctx, (c) => c.query('SELECT pg_catalog.pg_terminate_backend($1)', [first]));
    const second = await pidOf(kept);
    assert.notEqual(second, first);
    assert.equal(await pidOf(kept), second);
    await kept.close();
  });

  it('survives a restart of the server between calls', async () => {
    const kept = new KeptConnection(() => ctx);
    const first = await pidOf(kept);
    await restart(ctx, { stop: { mode: 'fast' } });
    const second = await pidOf(kept);
    assert.notEqual(second, first);
    await kept.close();
  });

  it('drops the connection after a failed statement, and the error reaches the caller', async () => {
    const kept = new KeptConnection(() => ctx);
    const first = await pidOf(kept);
    await assert.rejects(
      kept.run((c) => c.query('SELECT * FROM no_such_table'), BOUND),
      /no_such_table/,
    );
    assert.notEqual(await pidOf(kept), first);
    await kept.close();
  });

  it('bounds a call that does not answer, then works again on a new backend', async () => {
    const kept = new KeptConnection(() => ctx);
    const first = await pidOf(kept);
    const started = performance.now();
    await assert.rejects(
      kept.run((c) => c.query('SELECT pg_catalog.pg_sleep(3)'), { connectTimeoutMs: 5000, queryTimeoutMs: 300 }),
      (err: unknown) => err instanceof QueryTimedOut,
    );
    assert.ok(performance.now() - started < 2500, 'the bound ended the call, not the statement');
    assert.notEqual(await pidOf(kept), first);
    await kept.close();
  });

  it('reconnects when the target changes (a reload with another role)', async () => {
    await withConnection(ctx, (c) => c.query('CREATE ROLE kept_admin LOGIN SUPERUSER'));
    let current = ctx;
    const kept = new KeptConnection(() => current);
    const user = () => kept.run(async (c) => (await c.query('SELECT current_user AS u')).rows[0].u as string, BOUND);
    assert.equal(await user(), 'postgres');
    current = { ...ctx, options: { ...ctx.options, authentication: { ...ctx.options.authentication, superuser: { username: 'kept_admin' } } } };
    assert.equal(await user(), 'kept_admin');
    await waitUntil(async () => (await sessions(ctx)) === 1, { timeoutMs: 10_000, what: "the old role's session to end" });
    await kept.close();
  });

  it('opens a new backend once the kept one is older than its maximum age', async () => {
    const kept = new KeptConnection(() => ctx, 400);
    const first = await pidOf(kept);
    assert.equal(await pidOf(kept), first);
    await new Promise((r) => setTimeout(r, 500));
    const second = await pidOf(kept);
    assert.notEqual(second, first);
    await waitUntil(async () => (await sessions(ctx)) === 1, { timeoutMs: 10_000, what: 'the aged session to end' });
    await kept.close();
  });

  it('gives a call that comes while another runs a connection of its own', async () => {
    const kept = new KeptConnection(() => ctx);
    const keptPid = await pidOf(kept);
    const slow = kept.run(async (c) => {
      await c.query('SELECT pg_catalog.pg_sleep(0.5)');
      return Number((await c.query('SELECT pg_catalog.pg_backend_pid() AS p')).rows[0].p);
    }, BOUND);
    const meanwhile = await pidOf(kept);
    assert.equal(await slow, keptPid);
    assert.notEqual(meanwhile, keptPid);
    assert.equal(await pidOf(kept), keptPid, 'the kept one stays');
    await kept.close();
  });

  it('does not wait on a server that stopped answering to close', async () => {
    const kept = new KeptConnection(() => ctx);
    await pidOf(kept);
    const backends = await withConnection(ctx, async (c) =>
      (await c.query("SELECT pid FROM pg_catalog.pg_stat_activity WHERE application_name = 'hactl' AND pid <> pg_catalog.pg_backend_pid()")).rows.map((r) => Number(r.pid)),
    );
    assert.equal(backends.length, 1);
    process.kill(backends[0]!, 'SIGSTOP');
    try {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const closed = await Promise.race([kept.close().then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 5000)))]);
      clearTimeout(timer);
      assert.ok(closed, 'close() still waits after 5 s');
      assert.ok(performance.now() - started < 3000, `close() took ${Math.round(performance.now() - started)} ms`);
    } finally {
      process.kill(backends[0]!, 'SIGCONT');
    }
  });

  it('lets a smart shutdown finish once closed', async () => {
    // No session of the tests above may linger (the timed-out pg_sleep ends within 3 s).
    await waitUntil(async () => (await sessions(ctx)) === 0, { timeoutMs: 10_000, what: 'no hactl sessions left' });
    const kept = new KeptConnection(() => ctx);
    await pidOf(kept);
    await kept.close();
    const started = performance.now();
    await stop(ctx, { mode: 'smart', escalate: false, timeoutMs: 20_000 });
    assert.ok(performance.now() - started < 10_000, `a smart stop took ${Math.round(performance.now() - started)} ms`);
  });
});

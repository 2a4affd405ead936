import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { cleanupPostgres, registerServer, tempDirForPostgres, testContext, testOptions } from '../helpers/postgres.js';
import { bootstrap } from '../../src/postgres/bootstrap.js';
import { withConnection } from '../../src/postgres/connection.js';
import { PostgresCommandFailed } from '../../src/postgres/errors.js';
import { getStatus } from '../../src/postgres/lifecycle.js';
import type { BootstrapOptions, PostgresOptions } from '../../src/postgres/types.js';

after(cleanupPostgres);

const SUPERUSER_PASSWORD = 'su-secret-42';

const seedBootstrap: BootstrapOptions = {
  initdb: [{ encoding: 'UTF8' }, 'data-checksums', { 'auth-host': 'scram-sha-256' }, { 'auth-local': 'trust' }],
  users: { admin: { password: 'admin-pw', options: ['createrole', 'createdb'] } },
};

async function node(overrides: Partial<PostgresOptions> = {}) {
  const base = await tempDirForPostgres();
  const options = await testOptions(base, {
    authentication: {
      superuser: { username: 'postgres', password: SUPERUSER_PASSWORD },
      replication: { username: 'replicator', password: "rep'pw:1" },
      rewind: { username: 'rewinder', password: 'rewind-pw' },
    },
    ...overrides,
  });
  const ctx = await testContext(options);
  registerServer(ctx);
  return { ctx, options, port: Number(options.listen.split(':').pop()) };
}

async function tcpClient(port: number, user: string, password: string, replication = false) {
  const client = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'postgres', ...(replication ? { replication: 'true' } : {}) } as pg.ClientConfig);
  client.on('error', () => {});
  await client.connect();
  return client;
}

describe('bootstrap', () => {
  it('creates a primary with seed-style initdb options, users and the rewind grants', async () => {
    const { ctx, port } = await node();
    const psql = ctx.binaries.path('psql');
    const result = await bootstrap(ctx, { ...seedBootstrap, post_bootstrap: `${psql} -v ON_ERROR_STOP=1 -c "CREATE TABLE post_bootstrap_ran()"` });
    assert.deepEqual(result.roles, ['replicator', 'rewinder', 'admin']);
    assert.equal((await getStatus(ctx)).state, 'running');

    const facts = await withConnection(ctx, async (c) => {
      const q = async (sql: string) => (await c.query(sql)).rows[0];
      return {
        checksums: (await q('SHOW data_checksums')).data_checksums,
        encoding: (await q('SHOW server_encoding')).server_encoding,
        replicator: await q("SELECT rolreplication, rolcanlogin, rolsuper FROM pg_roles WHERE rolname = 'replicator'"),
        admin: await q("SELECT rolcreaterole, rolcreatedb, rolsuper FROM pg_roles WHERE rolname = 'admin'"),
        rewindGrants: await q(`SELECT
            has_function_privilege('rewinder', 'pg_catalog.pg_ls_dir(text, boolean, boolean)', 'execute') AS ls,
            has_function_privilege('rewinder', 'pg_catalog.pg_stat_file(text, boolean)', 'execute') AS stat,
            has_function_privilege('rewinder', 'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)', 'execute') AS read,
            (SELECT rolsuper FROM pg_roles WHERE rolname = 'rewinder') AS super`),
        hook: await q("SELECT to_regclass('public.post_bootstrap_ran') IS NOT NULL AS ran"),
      };
    });
    assert.equal(facts.checksums, 'on');
    assert.equal(facts.encoding, 'UTF8');
    assert.deepEqual(facts.replicator, { rolreplication: true, rolcanlogin: true, rolsuper: false });
    assert.deepEqual(facts.admin, { rolcreaterole: true, rolcreatedb: true, rolsuper: false });
    assert.deepEqual(facts.rewindGrants, { ls: true, stat: true, read: true, super: false });
    assert.equal(facts.hook.ran, true, 'post_bootstrap ran with the superuser URL');

    // scram over TCP: the replication user can open a walsender connection with its password, a wrong one cannot.
    const repl = await tcpClient(port, 'replicator', "rep'pw:1", true);
    const ident = await repl.query('IDENTIFY_SYSTEM');
    assert.equal(Number(ident.rows[0].timeline), 1);
    await repl.end();
    await assert.rejects(tcpClient(port, 'replicator', 'wrong', true), /password authentication failed/);
    const su = await tcpClient(port, 'postgres', SUPERUSER_PASSWORD);
    await su.end();
    const admin = await tcpClient(port, 'admin', 'admin-pw');
    await admin.end();

    const dataDir = await fs.stat(ctx.options.data_dir);
    assert.equal(dataDir.mode & 0o777, 0o700);
    assert.equal(dataDir.uid, ctx.user.uid);
    const log = await fs.readFile(path.join(ctx.options.data_dir, 'log', 'postmaster.log'), 'utf8');
    assert.ok(!log.includes(SUPERUSER_PASSWORD) && !log.includes('admin-pw'), 'no password in the server log');
  });

  it('works with auth-local: peer while hactl runs as root (falls back to TCP with the password)', async () => {
    const { ctx } = await node();
    await bootstrap(ctx, { initdb: [{ 'auth-local': 'peer' }, { 'auth-host': 'scram-sha-256' }] });
    const who = await withConnection(ctx, async (c) => (await c.query('SELECT current_user AS u, inet_server_addr() IS NOT NULL AS tcp')).rows[0]);
    assert.deepEqual(who, { u: 'postgres', tcp: ctx.user.switchUser });
  });

  it('refuses a data directory that is not empty', async () => {
    const { ctx } = await node();
    await fs.mkdir(ctx.options.data_dir, { mode: 0o700 });
    await fs.chown(ctx.options.data_dir, ctx.user.uid, ctx.user.gid);
    await fs.writeFile(path.join(ctx.options.data_dir, 'PG_VERSION'), '15\n');
    await assert.rejects(bootstrap(ctx, seedBootstrap), /is not empty; bootstrap needs an empty or missing data directory/);
    assert.equal(await fs.readFile(path.join(ctx.options.data_dir, 'PG_VERSION'), 'utf8'), '15\n', 'left untouched');
  });

  it('on a failing post_bootstrap stops the server, empties the data dir and redacts passwords', async () => {
    const { ctx } = await node();
    const err = await bootstrap(ctx, { ...seedBootstrap, post_bootstrap: `echo "leaking ${SUPERUSER_PASSWORD}" >&2; exit 3;` }).then(
      () => assert.fail('bootstrap should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof PostgresCommandFailed, String(err));
    assert.equal(err.exitCode, 3);
    assert.match(err.message, /exited with code 3: leaking \*\*\*/);
    assert.ok(!err.message.includes(SUPERUSER_PASSWORD) && !err.stderrTail.includes(SUPERUSER_PASSWORD));
    assert.equal((await getStatus(ctx)).state, 'stopped');
    assert.deepEqual(await fs.readdir(ctx.options.data_dir), []);
  });

  it('rejects initdb options hactl sets itself', async () => {
    const { ctx } = await node();
    await assert.rejects(bootstrap(ctx, { initdb: [{ pgdata: '/elsewhere' }] }), /option pgdata is set by hactl/);
  });
});

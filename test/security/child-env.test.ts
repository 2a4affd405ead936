// Issue 14, PostgreSQL's environment: a database superuser can read the postmaster's environment with
// COPY … PROGRAM 'env', so no HACTL_*/PATRONI_* secret and no NODE_OPTIONS may reach it; and backends
// must be OOM-killable (oom_score_adj 0) while the postmaster keeps the protection the agent runs with.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { withConnection } from '../../src/postgres/connection.js';
import { cleanupPostgres, startPrimary } from '../helpers/postgres.js';

after(cleanupPostgres);

const SECRETS = {
  HACTL_RAFT_PASSWORD: 'raft-canary-7f3a',
  HACTL_SUPERUSER_PASSWORD: 'su-canary-91c2',
  PATRONI_REPLICATION_PASSWORD: 'repl-canary-55d0',
  PATRONI_RESTAPI_PASSWORD: 'rest-canary-0b8e',
  NODE_OPTIONS: '--max-old-space-size=4096',
};

function oomScoreAdj(pid: number | 'self'): number {
  return Number(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim());
}

describe('the environment PostgreSQL runs with', () => {
  it("COPY … PROGRAM 'env' from a superuser session shows no HACTL_/PATRONI_ secret and no NODE_OPTIONS", async () => {
    // The agent holds its secrets in its environment (config overrides); the server is started from here the same way.
    Object.assign(process.env, SECRETS);
    let server;
    try {
      server = await startPrimary();
    } finally {
      for (const key of Object.keys(SECRETS)) delete process.env[key];
    }
    const env = await withConnection(server.ctx, async (c) => {
      await c.query('CREATE TEMP TABLE child_env (line text)');
      await c.query("COPY child_env FROM PROGRAM 'env'");
      return (await c.query<{ line: string }>('SELECT line FROM child_env')).rows.map((r) => r.line);
    });
    assert.ok(env.length > 3, `env printed something: ${env.join(' | ')}`);
    for (const [key, value] of Object.entries(SECRETS)) {
      assert.ok(!env.some((l) => l.startsWith(`${key}=`) || l.includes(value)), `${key} reached a backend: ${env.join(' | ')}`);
    }
    assert.ok(!env.some((l) => /^(HACTL_|PATRONI_)/.test(l)), env.join(' | '));
    assert.ok(env.includes('PG_OOM_ADJUST_FILE=/proc/self/oom_score_adj'), env.join(' | '));
    assert.ok(env.includes('PG_OOM_ADJUST_VALUE=0'), env.join(' | '));
  });

  it('a backend has oom_score_adj 0 while the postmaster keeps the value the agent set', async () => {
    // systemd's OOMScoreAdjust=-1000 protects the agent, and so the postmaster it starts. Lowering the value
    // needs CAP_SYS_RESOURCE (a container may lack it): then a raised value shows the same thing, that the
    // postmaster keeps what it inherited and each backend resets itself to PG_OOM_ADJUST_VALUE.
    const before = oomScoreAdj('self');
    let inherited = -500;
    try {
      writeFileSync('/proc/self/oom_score_adj', String(inherited));
    } catch {
      inherited = 300;
      writeFileSync('/proc/self/oom_score_adj', String(inherited));
    }
    let server;
    try {
      server = await startPrimary();
    } finally {
      writeFileSync('/proc/self/oom_score_adj', String(before));
    }
    const { backend, postmaster } = await withConnection(server.ctx, async (c) => {
      const rows = (await c.query<{ backend: number }>('SELECT pg_backend_pid() AS backend')).rows;
      const pm = Number(readFileSync(`${server.options.data_dir}/postmaster.pid`, 'utf8').split('\n')[0]);
      return { backend: oomScoreAdj(rows[0]!.backend), postmaster: oomScoreAdj(pm) };
    });
    assert.equal(postmaster, inherited, 'the postmaster keeps the value it was started with');
    assert.equal(backend, 0, 'a backend is OOM-killable');
  });
});

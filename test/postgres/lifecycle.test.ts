import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { cleanupPostgres, startPrimary } from '../helpers/postgres.js';
import { withConnection } from '../../src/postgres/connection.js';
import { getStatus, isRunning, pendingRestart, reload, restart, start, stop } from '../../src/postgres/lifecycle.js';
import { readControlData } from '../../src/postgres/controldata.js';
import { readState } from '../../src/postgres/state.js';
import { writeConfiguration } from '../../src/postgres/write-config.js';
import type { PgContext } from '../../src/postgres/types.js';

after(cleanupPostgres);

const setting = (ctx: PgContext, name: string) =>
  withConnection(ctx, async (c) => (await c.query('SELECT current_setting($1) AS v', [name])).rows[0].v as string);

describe('lifecycle of a local server', () => {
  it('starts with per-node settings from the command line and reports running', async () => {
    const { ctx, port } = await startPrimary();
    assert.equal(await setting(ctx, 'port'), String(port));
    assert.equal(await setting(ctx, 'cluster_name'), 'hactl-test');
    const status = await getStatus(ctx);
    assert.equal(status.state, 'running');
    assert.equal(status.port, port);
    assert.ok(status.pid && status.pid > 0);
    assert.equal(await start(ctx), false, 'a running server is left alone');
    const state = await readState(ctx);
    assert.equal(state.inRecovery, false);
    assert.equal(state.timeline, 1);
    assert.ok(state.currentLsn !== null && state.currentLsn > 0n);
    assert.equal(state.walReceiver, null);
    assert.deepEqual(state.replication, []);
  });

  it('stops in each mode, and a second stop is a no-op', async () => {
    const { ctx } = await startPrimary();
    for (const mode of ['smart', 'fast', 'immediate'] as const) {
      if (!(await isRunning(ctx))) await start(ctx);
      assert.deepEqual(await stop(ctx, { mode }), { wasRunning: true, mode });
      assert.equal((await getStatus(ctx)).state, 'stopped');
    }
    assert.deepEqual(await stop(ctx), { wasRunning: false, mode: null });
  });

  it('escalates a smart shutdown blocked by a client to fast after the timeout', async () => {
    const { ctx } = await startPrimary();
    await withConnection(ctx, async () => {
      const began = Date.now();
      const result = await stop(ctx, { mode: 'smart', timeoutMs: 1000 });
      assert.deepEqual(result, { wasRunning: true, mode: 'fast' });
      assert.ok(Date.now() - began >= 900);
    });
    assert.equal(await isRunning(ctx), false);
  });

  it('restarts and reloads; a changed shared_buffers is pending restart until restarted', async () => {
    const { ctx } = await startPrimary();
    const pidBefore = (await getStatus(ctx)).pid;
    ctx.options.parameters = { ...ctx.options.parameters, shared_buffers: '64MB', work_mem: '7MB' };
    const written = await writeConfiguration(ctx, { role: 'primary' });
    assert.deepEqual(written.changed, ['shared_buffers', 'work_mem']);
    assert.deepEqual(written.restartRequired, ['shared_buffers']);
    await reload(ctx);
    // The postmaster re-reads the file asynchronously after SIGHUP.
    let pending: string[] = [];
    for (let i = 0; i < 50 && pending.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      pending = await pendingRestart(ctx);
    }
    assert.deepEqual(pending, ['shared_buffers']);
    assert.equal(await setting(ctx, 'work_mem'), '7MB', 'reloadable settings apply on reload');
    await restart(ctx);
    assert.notEqual((await getStatus(ctx)).pid, pidBefore);
    assert.deepEqual(await pendingRestart(ctx), []);
    assert.equal(await setting(ctx, 'shared_buffers'), '64MB');
  });

  it('detects a crash (postmaster killed with SIGKILL) from the stale postmaster.pid, then recovers on start', async () => {
    const { ctx } = await startPrimary();
    const { pid } = await getStatus(ctx);
    process.kill(pid!, 'SIGKILL');
    let status = await getStatus(ctx);
    for (let i = 0; i < 50 && status.state === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = await getStatus(ctx);
    }
    assert.equal(status.state, 'crashed');
    assert.equal(status.pid, pid);
    assert.equal(await isRunning(ctx), false);
    assert.deepEqual(await stop(ctx), { wasRunning: false, mode: null });
    const control = await readControlData(ctx);
    assert.equal(control.clusterState, 'in production', 'the control file was not shut down cleanly');
    // Orphaned backends notice the postmaster's death within a moment; start retries until the port is free.
    for (let attempt = 0; ; attempt++) {
      try {
        await start(ctx);
        break;
      } catch (err) {
        if (attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    assert.equal(await isRunning(ctx), true);
  });

  it('keeps the original postgresql.conf as postgresql.base.conf and includes it', async () => {
    const { ctx } = await startPrimary();
    const dir = ctx.options.data_dir;
    const conf = await fs.readFile(path.join(dir, 'postgresql.conf'), 'utf8');
    assert.match(conf, /^# Do not edit this file manually/);
    assert.match(conf, /include 'postgresql.base.conf'/);
    const base = await fs.readFile(path.join(dir, 'postgresql.base.conf'), 'utf8');
    assert.match(base, /PostgreSQL configuration file/);
    const st = await fs.stat(path.join(dir, 'postgresql.conf'));
    assert.equal(st.uid, ctx.user.uid);
    assert.equal(st.mode & 0o777, 0o600);
    const pgpass = await fs.stat(ctx.options.pgpass!);
    assert.equal(pgpass.mode & 0o777, 0o600);
    assert.equal(pgpass.uid, ctx.user.uid);
  });
});

describe('writeConfiguration', () => {
  it('makes a replica (standby.signal, conninfo, no recovery settings left in auto.conf) and back a primary', async () => {
    const { ctx } = await startPrimary();
    const dir = ctx.options.data_dir;
    await stop(ctx, { mode: 'fast' });
    const control = await readControlData(ctx);
    assert.equal(control.clusterState, 'shut down');
    assert.equal(control.timeline, 1);
    // What pg_basebackup -R / pg_rewind -R leave behind, copied from another node.
    await fs.appendFile(path.join(dir, 'postgresql.auto.conf'), "primary_conninfo = 'host=elsewhere port=1'\nwork_mem = '5MB'\n");
    const result = await writeConfiguration(ctx, { role: 'replica', primary: { host: '127.0.0.1', port: 5999, slotName: 'node1' } });
    assert.deepEqual(result.removedFromAutoConf, ['primary_conninfo']);
    assert.ok(result.changed.includes('primary_conninfo'));
    const auto = await fs.readFile(path.join(dir, 'postgresql.auto.conf'), 'utf8');
    assert.doesNotMatch(auto, /primary_conninfo/);
    assert.match(auto, /work_mem = '5MB'/);
    await fs.access(path.join(dir, 'standby.signal'));
    const conf = await fs.readFile(path.join(dir, 'postgresql.conf'), 'utf8');
    assert.match(conf, /^primary_conninfo = '.*host=''127\.0\.0\.1'' port=''5999''.*application_name=''node1'''$/m);
    assert.match(conf, /^primary_slot_name = 'node1'$/m);
    assert.match(conf, /^recovery_target_timeline = 'latest'$/m);
    await writeConfiguration(ctx, { role: 'primary' });
    await assert.rejects(fs.access(path.join(dir, 'standby.signal')));
    assert.doesNotMatch(await fs.readFile(path.join(dir, 'postgresql.conf'), 'utf8'), /primary_conninfo/);
  });
});

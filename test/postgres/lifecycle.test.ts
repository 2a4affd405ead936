import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { cleanupPostgres, startPrimary } from '../helpers/postgres.js';
import { pidGone, processesIn } from '../helpers/process.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';
import { withConnection } from '../../src/postgres/connection.js';
import { getStatus, isRunning, pendingRestart, reload, restart, start, stop } from '../../src/postgres/lifecycle.js';
import { readControlData } from '../../src/postgres/controldata.js';
import { promote } from '../../src/postgres/promote.js';
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
      assert.deepEqual(await stop(ctx, { mode }), { wasRunning: true, mode, killed: false });
      assert.equal((await getStatus(ctx)).state, 'stopped');
    }
    assert.deepEqual(await stop(ctx), { wasRunning: false, mode: null, killed: false });
  });

  it('escalates a smart shutdown blocked by a client to fast after the timeout', async () => {
    const { ctx } = await startPrimary();
    await withConnection(ctx, async () => {
      const began = Date.now();
      const result = await stop(ctx, { mode: 'smart', timeoutMs: 1000 });
      assert.deepEqual(result, { wasRunning: true, mode: 'fast', killed: false });
      assert.ok(Date.now() - began >= 900);
    });
    assert.equal(await isRunning(ctx), false);
  });

  it('kills a postmaster that stops in no mode within the bound (killAfterTimeout), with its children, and the server starts again', async () => {
    const { ctx } = await startPrimary();
    const { pid } = await getStatus(ctx);
    const children = processesIn(ctx.options.data_dir).filter((p) => p !== pid);
    assert.ok(children.length > 0, 'a running server has child processes');
    // A frozen postmaster honours no shutdown request: what a primary_stop_timeout has to end.
    process.kill(pid!, 'SIGSTOP');
    const began = Date.now();
    const result = await stop(ctx, { mode: 'fast', timeoutMs: 1000, killAfterTimeout: true });
    assert.deepEqual(result, { wasRunning: true, mode: 'immediate', killed: true });
    assert.ok(Date.now() - began >= 1800, 'fast and immediate each had their bound first');
    assert.equal(await isRunning(ctx), false);
    // Dead at once; reaped (by init) a moment later, which the next start needs.
    await waitUntil(() => [pid!, ...children].every(pidGone), { timeoutMs: 15_000, intervalMs: 50, what: `the killed postmaster ${pid} and its children ${children.join(', ')} to be reaped` });
    await start(ctx);
    assert.equal(await isRunning(ctx), true);
  });

  it('without killAfterTimeout a server that does not stop is an error, and it keeps running', async () => {
    const { ctx } = await startPrimary();
    const { pid } = await getStatus(ctx);
    process.kill(pid!, 'SIGSTOP');
    try {
      await assert.rejects(stop(ctx, { mode: 'immediate', timeoutMs: 1000 }));
      assert.equal(await isRunning(ctx), true);
    } finally {
      process.kill(pid!, 'SIGCONT');
    }
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
    const pending = await waitUntil(async () => {
      const names = await pendingRestart(ctx);
      return names.length > 0 ? names : null;
    }, { timeoutMs: LIVENESS_MS, intervalMs: 100, what: 'a setting pending restart after the reload' });
    assert.deepEqual(pending, ['shared_buffers']);
    assert.equal(await setting(ctx, 'work_mem'), '7MB', 'reloadable settings apply on reload');
    await restart(ctx);
    assert.notEqual((await getStatus(ctx)).pid, pidBefore);
    assert.deepEqual(await pendingRestart(ctx), []);
    assert.equal(await setting(ctx, 'shared_buffers'), '64MB');
  });

  it('a promoted standby is not pending a restart for the recovery settings its new configuration drops', async () => {
    const { ctx } = await startPrimary();
    await writeConfiguration(ctx, { role: 'replica', primary: null });
    await restart(ctx);
    assert.equal(await setting(ctx, 'recovery_target_timeline'), 'latest');
    assert.equal((await promote(ctx)).promoted, true);
    await writeConfiguration(ctx, { role: 'primary' });
    await reload(ctx);
    // PostgreSQL itself flags the dropped recovery_target_timeline (a postmaster-context setting)…
    const raw = await waitUntil(
      async () => {
        const names = await withConnection(ctx, async (c) => (await c.query<{ name: string }>('SELECT name FROM pg_catalog.pg_settings WHERE pending_restart')).rows.map((r) => r.name));
        return names.includes('recovery_target_timeline') ? names : null;
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 100, what: 'pg_settings to flag recovery_target_timeline after the reload' },
    );
    // …which only recovery reads: not a reason to restart a primary (Patroni leaves recovery settings out too).
    assert.deepEqual(await pendingRestart(ctx), [], `pg_settings flags: ${raw.join(', ')}`);
  });

  it('detects a crash (postmaster killed with SIGKILL) from the stale postmaster.pid, then recovers on start', async () => {
    const { ctx } = await startPrimary();
    const { pid } = await getStatus(ctx);
    process.kill(pid!, 'SIGKILL');
    const status = await waitUntil(async () => {
      const s = await getStatus(ctx);
      return s.state !== 'running' ? s : null;
    }, { timeoutMs: LIVENESS_MS, intervalMs: 50, what: 'the killed postmaster to be gone' });
    assert.equal(status.state, 'crashed');
    assert.equal(status.pid, pid);
    assert.equal(await isRunning(ctx), false);
    assert.deepEqual(await stop(ctx), { wasRunning: false, mode: null, killed: false });
    const control = await readControlData(ctx);
    assert.equal(control.clusterState, 'in production', 'the control file was not shut down cleanly');
    // Orphaned backends notice the postmaster's death within a moment and hold its shared memory until
    // then; the killed postmaster's pid must be reaped too (PostgreSQL checks the pid in postmaster.pid).
    await waitUntil(() => pidGone(pid!) && processesIn(ctx.options.data_dir).length === 0, {
      timeoutMs: 15_000,
      intervalMs: 50,
      what: 'the killed postmaster (reaped) and its orphaned backends to be gone',
    });
    await start(ctx);
    assert.equal(await isRunning(ctx), true);
  });

  it('a stale postmaster.pid whose pid now belongs to a postgres process of another directory is a crash, not a running server', async () => {
    // The kernel reuses pids (pid_max 32768 here): after a crash, the pid in postmaster.pid can be another
    // cluster's postmaster. Calling it ours would keep us from starting, and a stop would kill it.
    const { ctx } = await startPrimary();
    const { pid } = await getStatus(ctx);
    process.kill(pid!, 'SIGKILL');
    await waitUntil(() => pidGone(pid!) && processesIn(ctx.options.data_dir).length === 0, { timeoutMs: 15_000, intervalMs: 50, what: 'the killed server to be gone' });
    const elsewhere = await fs.mkdtemp(path.join(path.dirname(ctx.options.data_dir), 'elsewhere-'));
    const impostor = spawn('bash', ['-c', 'exec -a postgres sleep 60'], { cwd: elsewhere, stdio: 'ignore' });
    try {
      await waitUntil(async () => (await fs.readFile(`/proc/${impostor.pid}/cmdline`, 'utf8').catch(() => '')).startsWith('postgres'), { timeoutMs: 10_000, intervalMs: 20, what: 'the impostor to run' });
      const file = path.join(ctx.options.data_dir, 'postmaster.pid');
      const lines = (await fs.readFile(file, 'utf8')).split('\n');
      lines[0] = String(impostor.pid);
      await fs.writeFile(file, lines.join('\n'));
      const status = await getStatus(ctx);
      assert.equal(status.state, 'crashed', 'a postgres process running elsewhere is not our postmaster');
      assert.deepEqual(await stop(ctx), { wasRunning: false, mode: null, killed: false });
      assert.equal(impostor.exitCode, null, 'the stop left the other process alone');
      await start(ctx);
      assert.equal(await isRunning(ctx), true);
    } finally {
      impostor.kill('SIGKILL');
      await fs.rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('a start right after a crash waits for the dead server\'s processes, which hold its shared memory, to exit', async () => {
    const { ctx } = await startPrimary();
    const { pid } = await getStatus(ctx);
    const children = processesIn(ctx.options.data_dir).filter((p) => p !== pid);
    // Frozen orphans: what a loaded host makes of backends that have not noticed the postmaster died yet.
    for (const c of children) process.kill(c, 'SIGSTOP');
    process.kill(pid!, 'SIGKILL');
    // The kill is delivered asynchronously: until the postmaster is dead, the pid file names a live
    // process and a start rightly leaves the "running" server alone (a CI run caught that moment).
    await waitUntil(async () => (await getStatus(ctx)).state !== 'running', { timeoutMs: LIVENESS_MS, intervalMs: 10, what: 'the killed postmaster to be dead' });
    const thaw = () => {
      for (const c of children) {
        try {
          process.kill(c, 'SIGCONT');
        } catch {
          // already gone
        }
      }
    };
    const timer = setTimeout(thaw, 1500);
    try {
      const began = Date.now();
      assert.equal(await start(ctx), true);
      assert.ok(Date.now() - began >= 1400, 'it waited for the orphans instead of failing on the shared memory they hold');
      assert.equal(await isRunning(ctx), true);
    } finally {
      clearTimeout(timer);
      thaw();
    }
  });

  it('writes postgresql.pg_ident as pg_ident.conf, which PostgreSQL loads on reload; without the key the file is left alone', async () => {
    const { ctx } = await startPrimary();
    const identPath = path.join(ctx.options.data_dir, 'pg_ident.conf');
    const initdbs = await fs.readFile(identPath, 'utf8');
    await writeConfiguration(ctx, { role: 'primary' });
    assert.equal(await fs.readFile(identPath, 'utf8'), initdbs, 'no pg_ident key: initdb\'s file stays');
    ctx.options.pg_ident = ['ops  alice  postgres', 'ops  bob    postgres'];
    await writeConfiguration(ctx, { role: 'primary' });
    assert.equal((await fs.stat(identPath)).mode & 0o777, 0o600);
    await reload(ctx);
    const rows = await waitUntil(async () => {
      const r = await withConnection(ctx, async (c) => (await c.query('SELECT map_name, sys_name, pg_username FROM pg_ident_file_mappings ORDER BY line_number')).rows);
      return r.length === 2 ? r : null;
    }, { timeoutMs: LIVENESS_MS, intervalMs: 100, what: 'the two mappings in pg_ident_file_mappings after the reload' });
    assert.deepEqual(rows, [{ map_name: 'ops', sys_name: 'alice', pg_username: 'postgres' }, { map_name: 'ops', sys_name: 'bob', pg_username: 'postgres' }]);
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

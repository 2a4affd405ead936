// observeLocal (ha/inputs.ts) through the PostgreSQL seam: what decide is told about the local
// server in each state the fake can be put in, and the control-data cache that spares a
// pg_controldata run per cycle while the same postmaster runs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { observeLocal, type ControlDataCache } from '../../../src/agent/ha/inputs.js';
import { PostgresAuthRejected } from '../../../src/postgres/index.js';
import { FakePostgres, fakeInstance, runningPrimary, runningReplica } from '../../helpers/fake-postgres.js';

describe('observing the local PostgreSQL', () => {
  it('an empty data directory is stopped and empty, without asking anything else', async () => {
    const pg = new FakePostgres(fakeInstance());
    const obs = await observeLocal(pg);
    assert.deepEqual([obs.state.role, obs.state.dataDir], ['stopped', 'empty']);
    assert.deepEqual(pg.callNames, ['dataDirectory']);
  });

  it('a running primary and a running replica, with their positions', async () => {
    const primary = await observeLocal(new FakePostgres(runningPrimary({ lsn: 0x5000000n, timeline: 3 })));
    assert.deepEqual([primary.state.role, primary.state.writeLsn, primary.state.timeline, primary.state.wasPrimary], ['primary', 0x5000000n, 3, true]);
    const replica = await observeLocal(new FakePostgres(runningReplica({ lsn: 0x4000000n })));
    assert.deepEqual([replica.state.role, replica.state.receivedLsn, replica.state.writeLsn], ['replica', 0x4000000n, null]);
  });

  it('a primary stopped without a clean shutdown is crashed; a clean stop is stopped', async () => {
    const crashed = await observeLocal(new FakePostgres(runningPrimary({ running: false, stalePid: true })));
    assert.deepEqual([crashed.state.role, crashed.state.wasPrimary], ['crashed', true]);
    const killed = await observeLocal(new FakePostgres(runningPrimary({ running: false, clusterState: 'in production' })));
    assert.equal(killed.state.role, 'crashed', 'no pid file, but the control file says it was running');
    const clean = await observeLocal(new FakePostgres(runningReplica({ running: false, clusterState: 'shut down in recovery' })));
    assert.deepEqual([clean.state.role, clean.state.wasPrimary], ['stopped', false]);
  });

  it('a fresh copy not started yet is stopped, not crashed: its `in production` control file is the source primary\'s', async () => {
    const copy = await observeLocal(new FakePostgres(fakeInstance({ dataDir: 'valid', standbySignal: true, backupLabel: true, clusterState: 'in production' })));
    assert.deepEqual([copy.state.role, copy.state.wasPrimary], ['stopped', false]);
    const noSignal = await observeLocal(new FakePostgres(fakeInstance({ dataDir: 'valid', backupLabel: true, clusterState: 'in production' })));
    assert.deepEqual([noSignal.state.role, noSignal.state.wasPrimary], ['stopped', false], 'never ran here, so it was no primary here');
  });

  it('running but not answering is starting; a refused connection is reported with PostgreSQL’s reason', async () => {
    const pg = new FakePostgres(runningPrimary({ answering: false }));
    const starting = await observeLocal(pg);
    assert.deepEqual([starting.state.role, starting.state.wasPrimary], ['starting', true]);
    pg.instance.answering = true;
    pg.failNext('serverState', new PostgresAuthRejected('no pg_hba.conf entry for host "127.0.0.1"', 'add a line to postgresql.pg_hba', '127.0.0.1:5432'));
    const refused = await observeLocal(pg);
    assert.equal(refused.state.role, 'starting');
    assert.match(refused.connectionRefused ?? '', /no pg_hba\.conf entry/);
  });

  it('a postmaster killed between the pid check and the query is crashed, not starting', async () => {
    // kill -9 of the postmaster right after the agent read a live pid: the query fails because the server
    // is gone, not because it is starting (taken for starting, primary_start_timeout 0 demoted it as
    // "startup is taking too long" instead of "Primary crashed. Failing over.").
    class DyingPostgres extends FakePostgres {
      override async serverState(timeoutMs: number) {
        this.instance.running = false;
        this.instance.stalePid = true;
        return super.serverState(timeoutMs);
      }
    }
    const pg = new DyingPostgres(runningPrimary({ clusterState: 'in production' }));
    const obs = await observeLocal(pg);
    assert.deepEqual([obs.state.role, obs.state.wasPrimary], ['crashed', true]);
    assert.deepEqual(pg.callNames.filter((c) => c === 'postmaster').length, 3, 'looked again after the failed query, then observed afresh');
  });

  it('reads the control file once per postmaster, not every cycle', async () => {
    const pg = new FakePostgres(runningPrimary());
    const cache: { value: ControlDataCache | null } = { value: null };
    await observeLocal(pg, { cache });
    await observeLocal(pg, { cache });
    assert.equal(pg.callNames.filter((c) => c === 'controlData').length, 1);
    pg.instance.pid += 1; // restarted
    await observeLocal(pg, { cache });
    assert.equal(pg.callNames.filter((c) => c === 'controlData').length, 2);
  });

  it('a control file that cannot be read makes the data directory invalid', async () => {
    const pg = new FakePostgres(runningReplica({ running: false }));
    pg.failNext('controlData', new Error('pg_controldata: could not open file "global/pg_control"'));
    assert.equal((await observeLocal(pg)).state.dataDir, 'invalid');
  });
});

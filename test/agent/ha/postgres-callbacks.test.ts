// Which callback each step of the local PostgreSQL fires (src/agent/ha/postgres-callbacks.ts), on the
// scripted FakePostgres with a runner that records the calls instead of running commands. The
// process side (the OS user, killing a callback still running, order) is test/agent/callbacks.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CallbackAction, CallbackRole, CallbackRunner, HookScript } from '../../../src/agent/callbacks.js';
import { withCallbacks } from '../../../src/agent/ha/postgres-callbacks.js';
import { FakePostgres, runningPrimary } from '../../helpers/fake-postgres.js';

/** Records `<action> <role>` as Patroni's callback2.py would log it; hook scripts succeed. */
function recordingRunner(): { runner: CallbackRunner; calls: string[] } {
  const calls: string[] = [];
  const recorder = {
    call: (action: CallbackAction, role: CallbackRole) => calls.push(`${action} ${role}`),
    script: async (_kind: HookScript) => ({ configured: false, code: null }),
  };
  // CallbackRunner is a class with private state; the wrapper only calls these two methods.
  return { runner: recorder as unknown as CallbackRunner, calls };
}

describe('callbacks around the local PostgreSQL', () => {
  it('a primary whose start in place failed reports on_role_change demoted once, then replica when it starts as one (Patroni recovery feature, scenario 3)', async () => {
    const fake = new FakePostgres(runningPrimary());
    const { runner, calls } = recordingRunner();
    const pg = withCallbacks(fake, runner);
    await pg.serverState(1000);
    assert.deepEqual(calls, ['on_start primary'], 'the first observation of a running primary');

    // The postmaster is killed; the start in place fails.
    fake.instance.running = false;
    fake.instance.stalePid = true;
    await pg.configure({ role: 'primary' });
    fake.failNext('start', new Error('pg_ctl start: could not start server'));
    await assert.rejects(pg.start());
    assert.deepEqual(calls, ['on_start primary'], 'a start that failed fires nothing');

    await pg.markDemoted();
    await pg.markDemoted();
    assert.deepEqual(calls, ['on_start primary', 'on_role_change demoted'], 'reported once');

    await pg.configure({ role: 'replica', primary: null });
    await pg.start();
    assert.deepEqual(calls, ['on_start primary', 'on_role_change demoted', 'on_role_change replica']);
  });

  it('a replica is never reported demoted', async () => {
    const fake = new FakePostgres(runningPrimary({ standbySignal: true, inRecovery: true, clusterState: 'in archive recovery' }));
    const { runner, calls } = recordingRunner();
    const pg = withCallbacks(fake, runner);
    await pg.serverState(1000);
    await pg.markDemoted();
    assert.deepEqual(calls, ['on_start replica']);
  });
});

describe('callbacks of a standby cluster', () => {
  it("a running standby that takes the standby leader key reports on_role_change standby_leader once, and replica when it follows a member again (Patroni's standby_cluster feature)", async () => {
    const fake = new FakePostgres(runningPrimary({ standbySignal: true, inRecovery: true, clusterState: 'in archive recovery' }));
    const { runner, calls } = recordingRunner();
    const pg = withCallbacks(fake, runner);
    await pg.serverState(1000);
    await pg.markStandbyLeader(false);
    assert.deepEqual(calls, ['on_start replica'], 'a replica staying one reports nothing new');
    await pg.markStandbyLeader(true);
    await pg.markStandbyLeader(true);
    assert.deepEqual(calls, ['on_start replica', 'on_role_change standby_leader']);
    await pg.markStandbyLeader(false);
    assert.deepEqual(calls, ['on_start replica', 'on_role_change standby_leader', 'on_role_change replica']);
  });

  it('a stopped server reports nothing: its start does', async () => {
    const fake = new FakePostgres(runningPrimary({ standbySignal: true, inRecovery: true, clusterState: 'in archive recovery' }));
    const { runner, calls } = recordingRunner();
    const pg = withCallbacks(fake, runner);
    await pg.serverState(1000);
    fake.instance.running = false;
    await pg.markStandbyLeader(true);
    assert.deepEqual(calls, ['on_start replica']);
  });
});

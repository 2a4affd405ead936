// Every branch of the HA executor (src/agent/ha/executor.ts) without PostgreSQL: decisions handed
// to it directly, the memory store on a manual clock, FakePostgres for the server, a recording
// fence. The failure paths are here too: promote, rewind and initdb failing, a stop that times out,
// a store that cannot confirm a renewal, a watchdog that cannot be armed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DcsUnavailable, leaseDeadlineMonoMs } from '../../../src/dcs/index.js';
import { HaExecutor } from '../../../src/agent/ha/executor.js';
import type { Decision, LocalPostgresState } from '../../../src/agent/ha/types.js';
import type { FenceHooks } from '../../../src/agent/fence/index.js';
import { Watchdog } from '../../../src/agent/watchdog/index.js';
import { bootstrapOptions } from '../../../src/agent/settings.js';
import { createLineLogger } from '../../../src/logger.js';
import { PostgresCommandFailed } from '../../../src/postgres/index.js';
import { FAKE_SYSID, runningPrimary, runningReplica, type FakeInstance } from '../../helpers/fake-postgres.js';
import { fastMember, SCOPE, TTL_S, type FastMember } from './fast-harness.js';
import { input, primary, replica } from './fixtures.js';

const LEADER_KEY = `/service/${SCOPE}/leader`;

/** A fence that records what the executor told it. */
class RecordingFence implements FenceHooks {
  readonly events: string[] = [];
  async leaseConfirmed(write: { leaseDeadlineMonoMs: number; paused: boolean }): Promise<void> {
    this.events.push(`armed ${write.leaseDeadlineMonoMs}${write.paused ? ' paused' : ''}`);
  }
  /** Stand-down answers: true (disarmed) unless a test says the fence still sees PostgreSQL. */
  refuse = false;
  async release(reason: string, seen: 'stopped' | 'replica'): Promise<boolean> {
    this.events.push(`released: ${reason}${seen === 'replica' ? ' (replica)' : ''}${this.refuse && seen === 'stopped' ? ' — refused' : ''}`);
    return !(this.refuse && seen === 'stopped');
  }
}

interface Direct {
  m: FastMember;
  ex: HaExecutor;
  fence: RecordingFence;
  fatal: string[];
  /** Execute `decision` as srv1 with `local` PostgreSQL state; waits for a long action it starts. */
  run(decision: Decision, local?: LocalPostgresState, options?: { pause?: boolean }): Promise<Decision>;
}

const d = <A extends Decision['action']>(action: A, rest: Omit<Extract<Decision, { action: A }>, 'action' | 'reason' | 'notes'>): Decision =>
  ({ action, reason: `${action} for the test`, notes: [], ...rest }) as Decision;
const noAction = d('no-action', {});

async function direct(options: { instance?: Partial<FakeInstance>; watchdog?: Watchdog; extraYaml?: string } = {}): Promise<Direct> {
  const m = await fastMember({ name: 'srv1', instance: options.instance, extraYaml: options.extraYaml });
  const fence = new RecordingFence();
  const fatal: string[] = [];
  const ex = new HaExecutor({
    dcs: m.dcs,
    postgres: m.pg,
    local: () => m.config,
    bootstrapOptions: () => bootstrapOptions(m.config),
    logger: createLineLogger({ style: 'patroni', write: (l) => m.lines.push(l) }),
    watchdog: options.watchdog ?? null,
    fence,
    monoNow: () => m.clock.nowMs(),
    onFatal: (reason) => fatal.push(reason),
    wakeup: () => {},
  });
  await m.peer('srv2');
  await m.dcs.initialize(FAKE_SYSID, { create: true });
  return {
    m,
    ex,
    fence,
    fatal,
    async run(decision, local = primary(), opts = {}) {
      const view = await m.dcs.getCluster();
      const state = m.cycleState(input({ view, local, config: { name: 'srv1', pause: opts.pause ?? false } }), view);
      const done = await ex.execute(decision, state);
      await ex.runner.settle(2_000);
      return done;
    },
  };
}

const stopTimedOut = () => new PostgresCommandFailed({ command: 'pg_ctl stop -m fast', exitCode: 1, stderr: 'server does not shut down', timedOut: true, timeoutMs: 60_000 });

describe('HA executor: the leader lease', () => {
  it('acquires: the belief and the fence deadline are the deadline the store returned', async () => {
    const x = await direct({ instance: runningReplica() });
    const expected = leaseDeadlineMonoMs(x.m.clock.nowMs(), TTL_S * 1000);
    await x.run(d('acquire-and-promote', { promote: false, failoverVersion: null, ifLockLost: noAction }), replica());
    assert.equal(x.ex.self.leaseDeadlineMonoMs, expected);
    assert.deepEqual(x.fence.events, [`armed ${expected}`]);
  });

  it('a lost race runs ifLockLost and believes nothing', async () => {
    const x = await direct({ instance: runningReplica() });
    x.m.store.set(LEADER_KEY, 'srv2', { ttlMs: 10_000 });
    const done = await x.run(d('acquire-and-promote', { promote: true, failoverVersion: null, ifLockLost: d('follow', { leader: 'srv2', repoint: false, checkDivergence: false }) }), replica());
    assert.equal(done.action, 'follow');
    assert.equal(x.ex.self.leaseDeadlineMonoMs, null);
    assert.deepEqual(x.fence.events, []);
    assert.ok(!x.m.pg.callNames.includes('promote'));
  });

  it('renews: the belief moves to the new deadline, the fence is re-armed with it (paused: armed but told so)', async () => {
    const x = await direct({ instance: runningPrimary() });
    await x.m.dcs.attemptToAcquireLeader(TTL_S * 1000);
    x.m.clock.advance(5_000);
    await x.run(d('renew', { ifLockLost: noAction }), primary(), { pause: true });
    const expected = leaseDeadlineMonoMs(x.m.clock.nowMs(), TTL_S * 1000);
    assert.equal(x.ex.self.leaseDeadlineMonoMs, expected);
    assert.deepEqual(x.fence.events, [`armed ${expected} paused`]);
  });

  it('a renewal the store cannot confirm keeps the last deadline: its outcome is unknown', async () => {
    const x = await direct({ instance: runningPrimary() });
    await x.run(d('acquire-and-promote', { promote: false, failoverVersion: null, ifLockLost: noAction }));
    const believed = x.ex.self.leaseDeadlineMonoMs;
    x.m.clock.advance(10_000);
    const view = await x.m.dcs.getCluster();
    x.m.dcs.setReachable(false);
    const state = x.m.cycleState(input({ view, local: primary(), config: { name: 'srv1' } }), view);
    await assert.rejects(x.ex.execute(d('renew', { ifLockLost: noAction }), state), DcsUnavailable);
    assert.equal(x.ex.self.leaseDeadlineMonoMs, believed);
  });

  it('a lost renewal with no primary running stands the fence down; with a primary running it leaves that to the demotion', async () => {
    const x = await direct({ instance: runningReplica() });
    x.m.store.set(LEADER_KEY, 'srv2', { ttlMs: 10_000 });
    await x.run(d('renew', { ifLockLost: noAction }), replica());
    assert.deepEqual(x.fence.events, ['released: leader key lost (replica)'], 'a replica that answered SQL: the fence disarms at once');
    const y = await direct({ instance: runningPrimary() });
    y.m.store.set(LEADER_KEY, 'srv2', { ttlMs: 10_000 });
    await y.run(d('renew', { ifLockLost: noAction }), primary());
    assert.deepEqual(y.fence.events, []);
  });

  it('release-leader deletes the key and stands the fence down', async () => {
    const x = await direct({ instance: runningReplica() });
    await x.run(d('acquire-and-promote', { promote: false, failoverVersion: null, ifLockLost: noAction }), replica());
    await x.run(d('release-leader', {}), replica());
    assert.equal(x.m.store.get(LEADER_KEY), null);
    assert.equal(x.ex.self.leaseDeadlineMonoMs, null);
    assert.equal(x.fence.events.at(-1), 'released: leader key released (replica)');
  });

  it('a lost renewal while pg_control cannot be read ("stopped" is a guess) leaves the stand-down to the fence\'s own look at the data directory (issue 13 item 4)', async () => {
    const x = await direct({ instance: runningReplica() });
    x.m.store.set(LEADER_KEY, 'srv2', { ttlMs: 10_000 });
    await x.run(d('renew', { ifLockLost: noAction }), replica({ role: 'stopped', dataDir: 'invalid' }));
    assert.deepEqual(x.fence.events, ['released: leader key lost'], 'asked as "stopped": the fence disarms only if it sees nothing running');
  });

  it('release-leader keeps the key when the fence still sees PostgreSQL processes (deleting it would let a replica promote before the fence deadline)', async () => {
    const x = await direct({ instance: runningReplica() });
    await x.run(d('acquire-and-promote', { promote: false, failoverVersion: null, ifLockLost: noAction }), replica());
    x.fence.refuse = true;
    await x.run(d('release-leader', {}), replica({ role: 'stopped', dataDir: 'invalid' }));
    assert.equal(x.fence.events.at(-1), 'released: leader key released — refused');
    assert.equal(x.m.store.get(LEADER_KEY)?.value, 'srv1', 'the key stays until it expires after the fence deadline');
    assert.equal(x.ex.self.leaseDeadlineMonoMs, null, 'and is no longer believed in');
    assert.ok(x.m.lines.some((l) => /not deleting the leader key: the fence still sees PostgreSQL processes/.test(l)), x.m.lines.join('\n'));
  });

  it("a leader's watchdog is closed in pause and opened again at the first unpaused renewal (Patroni's enforce_primary_role), also after an agent restart that found its lease valid", async () => {
    const watchdog = new Watchdog({ mode: 'automatic', device: '/nonexistent/watchdog', driver: 'default', safetyMarginSeconds: 5, ttlSeconds: TTL_S, loopWaitSeconds: 10 }, { deviceWritable: () => false });
    const x = await direct({ instance: runningPrimary(), watchdog });
    await x.m.dcs.attemptToAcquireLeader(TTL_S * 1000);
    assert.equal(watchdog.isActive, false, 'a restarted agent has not opened it yet');
    await x.run(d('renew', { ifLockLost: noAction }), primary());
    assert.equal(watchdog.isActive, true, 'opened at the first unpaused renewal');
    await x.run(d('renew', { ifLockLost: noAction }), primary(), { pause: true });
    assert.equal(watchdog.isActive, false, 'closed in pause');
    await x.run(d('renew', { ifLockLost: noAction }), primary());
    assert.equal(watchdog.isActive, true, 'opened again after resume');
  });

  it('demotes a leader whose required watchdog cannot be opened after a pause, and gives the key back', async () => {
    const watchdog = new Watchdog({ mode: 'required', device: '/nonexistent/watchdog', driver: 'default', safetyMarginSeconds: 5, ttlSeconds: TTL_S, loopWaitSeconds: 10 }, { deviceWritable: () => false });
    const x = await direct({ instance: runningPrimary(), watchdog });
    await x.m.dcs.attemptToAcquireLeader(TTL_S * 1000);
    await x.run(d('renew', { ifLockLost: noAction }), primary());
    assert.equal(x.m.store.get(LEADER_KEY), null, 'the key is released');
    assert.equal(x.m.pg.instance.running, false, 'PostgreSQL was stopped');
    assert.ok(x.m.lines.some((l) => l.includes('Demoting self because watchdog could not be activated')), x.m.lines.join('\n'));
  });

  it('refuses to promote when a required watchdog cannot be armed, and gives the key back', async () => {
    const watchdog = new Watchdog(
      { mode: 'required', device: '/nonexistent/watchdog', driver: 'default', safetyMarginSeconds: 5, ttlSeconds: TTL_S, loopWaitSeconds: 10 },
      { deviceWritable: () => false },
    );
    const x = await direct({ instance: runningReplica(), watchdog });
    await x.run(d('acquire-and-promote', { promote: true, failoverVersion: null, ifLockLost: noAction }), replica());
    assert.equal(x.m.store.get(LEADER_KEY), null, 'the key is released');
    assert.ok(!x.m.pg.callNames.includes('promote'));
    assert.ok(x.m.lines.some((l) => l.includes('Not promoting self because watchdog could not be activated')), x.m.lines.join('\n'));
  });
});

describe('HA executor: stopping a primary', () => {
  it('demotes immediately: stop immediate, fence released after the stop, configured as a standby of the new leader', async () => {
    const x = await direct({ instance: runningPrimary() });
    await x.run(d('demote', { mode: 'immediate', releaseLeader: false, leader: 'srv2' }));
    assert.deepEqual(x.m.pg.calls.filter((c) => c.startsWith('stop') || c.startsWith('configure') || c === 'checkpoint'), ['stop immediate', 'configure replica of srv2:5432']);
    assert.deepEqual(x.fence.events, ['released: demoted']);
    assert.equal(x.ex.upstream, 'srv2');
  });

  it("demotes offline (the store unreachable): stop immediate, fence released, then started again as a read-only standby of nobody (Patroni's demote('offline'))", async () => {
    const x = await direct({ instance: runningPrimary() });
    await x.run(d('demote', { mode: 'immediate', releaseLeader: false, leader: null, offline: true }));
    assert.deepEqual(x.m.pg.calls.filter((c) => c.startsWith('stop') || c.startsWith('configure') || c.startsWith('start')), ['stop immediate', 'configure replica of nobody', 'start']);
    assert.deepEqual(x.fence.events, ['released: demoted']);
    assert.equal(x.m.pg.instance.running, true);
    assert.equal(x.m.pg.instance.standbySignal, true, 'in recovery: it cannot accept a write');
    assert.equal(x.m.pg.instance.inRecovery, true);
    assert.equal(x.ex.upstream, null);
  });

  it('demotes gracefully: CHECKPOINT, fast stop, then the key is released', async () => {
    const x = await direct({ instance: runningPrimary() });
    await x.run(d('acquire-and-promote', { promote: false, failoverVersion: null, ifLockLost: noAction }));
    await x.run(d('demote', { mode: 'graceful', releaseLeader: true, leader: null }));
    assert.deepEqual(x.m.pg.calls.filter((c) => ['checkpoint', 'stop fast', 'controlData'].includes(c)), ['checkpoint', 'stop fast', 'controlData']);
    assert.equal(x.m.store.get(LEADER_KEY), null);
    assert.equal(x.m.pg.instance.upstream, null, 'no leader known yet: a standby of nobody');
  });

  it('a stop that times out fails the demotion: the fence stays armed and the key is kept', async () => {
    const x = await direct({ instance: runningPrimary() });
    await x.run(d('acquire-and-promote', { promote: false, failoverVersion: null, ifLockLost: noAction }));
    x.m.pg.failNext('stop', stopTimedOut());
    await assert.rejects(x.run(d('demote', { mode: 'graceful', releaseLeader: true, leader: null })), PostgresCommandFailed);
    assert.ok(!x.fence.events.some((e) => e.startsWith('released')), x.fence.events.join('\n'));
    assert.equal(x.m.store.get(LEADER_KEY)?.value, 'srv1', 'a primary that may still run keeps the key until it expires');
    assert.equal(x.m.pg.instance.running, true);
  });

  it('hands over: graceful stop, then the key is released with the shutdown checkpoint', async () => {
    const x = await direct({ instance: runningPrimary({ lsn: 0x9000060n }) });
    await x.run(d('acquire-and-promote', { promote: false, failoverVersion: null, ifLockLost: noAction }));
    await x.run(d('hand-over', { candidate: 'srv2', kind: 'switchover', notBeforeMs: null, failoverVersion: 1, ifLockLost: noAction }));
    const view = await x.m.dcs.getCluster();
    assert.equal(view.leader, null);
    assert.equal(view.status.lastLsn, 0x9000060n);
    assert.deepEqual(x.fence.events.slice(-2), ['released: switchover: PostgreSQL stopped', 'released: leader key released']);
  });

  it("hands over in pause: started again as a standby of nobody, as Patroni's demote does (no paused cycle starts a stopped server)", async () => {
    const x = await direct({ instance: runningPrimary() });
    await x.run(d('acquire-and-promote', { promote: false, failoverVersion: null, ifLockLost: noAction }), primary(), { pause: true });
    await x.run(d('hand-over', { candidate: 'srv2', kind: 'switchover', notBeforeMs: null, failoverVersion: 1, ifLockLost: noAction }), primary(), { pause: true });
    assert.equal((await x.m.dcs.getCluster()).leader, null);
    assert.equal(x.m.pg.instance.running, true);
    assert.equal(x.m.pg.instance.inRecovery, true, 'a standby: it cannot accept a write');
    assert.equal(x.m.pg.instance.upstream, null);
  });

  it('hands over: the key is deleted before PostgreSQL is configured as a replica (the configuration is write downtime for nobody)', async () => {
    const x = await direct({ instance: runningPrimary() });
    await x.run(d('acquire-and-promote', { promote: false, failoverVersion: null, ifLockLost: noAction }));
    const configure = x.m.pg.configure.bind(x.m.pg);
    const keyAtConfigure: (string | null)[] = [];
    x.m.pg.configure = (role) => {
      keyAtConfigure.push(x.m.store.get(LEADER_KEY)?.value ?? null);
      return configure(role);
    };
    await x.run(d('hand-over', { candidate: 'srv2', kind: 'switchover', notBeforeMs: null, failoverVersion: 1, ifLockLost: noAction }));
    assert.deepEqual(keyAtConfigure, [null], 'configured once, after the key was gone');
    assert.equal(x.m.pg.instance.upstream, null, 'a standby of nobody until the new leader is known');
    assert.ok(x.m.lines.some((l) => l.includes('released the leader key after a clean shutdown for the switchover')), x.m.lines.join('\n'));
  });

  it('a handover whose key the fence will not let go still configures PostgreSQL as a replica, and does not claim the release', async () => {
    const x = await direct({ instance: runningPrimary() });
    await x.run(d('acquire-and-promote', { promote: false, failoverVersion: null, ifLockLost: noAction }));
    x.fence.refuse = true;
    await x.run(d('hand-over', { candidate: 'srv2', kind: 'switchover', notBeforeMs: null, failoverVersion: 1, ifLockLost: noAction }));
    assert.equal(x.m.store.get(LEADER_KEY)?.value, 'srv1', 'kept until it expires after the fence deadline');
    assert.ok(x.m.pg.calls.includes('configure replica of nobody'), x.m.pg.calls.join('\n'));
    assert.ok(!x.m.lines.some((l) => l.includes('released the leader key after a clean shutdown')), x.m.lines.join('\n'));
  });

  it('a handover whose stop times out keeps the key and the fence', async () => {
    const x = await direct({ instance: runningPrimary() });
    await x.run(d('acquire-and-promote', { promote: false, failoverVersion: null, ifLockLost: noAction }));
    x.m.pg.failNext('stop', stopTimedOut());
    await assert.rejects(x.run(d('hand-over', { candidate: 'srv2', kind: 'switchover', notBeforeMs: null, failoverVersion: 1, ifLockLost: noAction })), /timed out/);
    assert.equal(x.m.store.get(LEADER_KEY)?.value, 'srv1');
    assert.ok(!x.fence.events.some((e) => e.startsWith('released')));
  });

  it('with primary_stop_timeout (synchronous mode) a handover whose shutdown hangs kills PostgreSQL after the bound, then releases the key without a checkpoint position', async () => {
    const x = await direct({ instance: runningPrimary({ lsn: 0x9000060n }) });
    await x.run(d('acquire-and-promote', { promote: false, failoverVersion: null, ifLockLost: noAction }));
    x.m.pg.stopHangs = true;
    const view = await x.m.dcs.getCluster();
    const state = x.m.cycleState(input({ view, local: primary(), config: { name: 'srv1', primaryStopBoundMs: 5000 } }), view);
    await x.ex.execute(d('hand-over', { candidate: 'srv2', kind: 'switchover', notBeforeMs: null, failoverVersion: 1, ifLockLost: noAction }), state);
    assert.ok(x.m.pg.calls.includes('stop fast within 5000 ms'), x.m.pg.calls.join('\n'));
    assert.equal(x.m.pg.instance.running, false);
    assert.ok(x.m.lines.some((l) => /WARNING: PostgreSQL did not stop within primary_stop_timeout \(5 s per mode\): killed the postmaster/.test(l)), x.m.lines.join('\n'));
    const after = await x.m.dcs.getCluster();
    assert.equal(after.leader, null, 'the key goes: nothing runs any more');
    assert.ok(!x.m.pg.callNames.includes('controlData'), 'a killed server wrote no shutdown checkpoint to publish');
  });

  it('without primary_stop_timeout a demotion whose shutdown hangs fails and keeps the key (pg_ctl_timeout per mode, as before)', async () => {
    const x = await direct({ instance: runningPrimary() });
    await x.run(d('acquire-and-promote', { promote: false, failoverVersion: null, ifLockLost: noAction }));
    x.m.pg.stopHangs = true;
    await assert.rejects(x.run(d('demote', { mode: 'immediate', releaseLeader: true, leader: null })), /does not shut down/);
    assert.equal(x.m.store.get(LEADER_KEY)?.value, 'srv1');
    assert.equal(x.m.pg.instance.running, true);
  });

  it('stop: a start that must not go on is stopped at once; the key goes when asked', async () => {
    const x = await direct({ instance: runningPrimary({ answering: false }) });
    await x.run(d('acquire-and-promote', { promote: false, failoverVersion: null, ifLockLost: noAction }));
    await x.run(d('stop', { releaseLeader: true }), primary({ role: 'starting' }));
    assert.ok(x.m.pg.calls.includes('stop immediate'));
    assert.equal(x.m.store.get(LEADER_KEY), null);
    assert.deepEqual(x.fence.events.slice(-2), ['released: PostgreSQL stopped', 'released: leader key released']);
  });
});

describe('HA executor: long actions', () => {
  it('promotes: renews first, then pg_ctl promote, slots, history and the CHECKPOINT for pg_rewind', async () => {
    const x = await direct({ instance: runningReplica() });
    await x.m.dcs.attemptToAcquireLeader(TTL_S * 1000);
    await x.run(d('promote', { ifLockLost: noAction }), replica());
    assert.deepEqual(
      x.m.pg.callNames.filter((c) => ['promote', 'syncSlots', 'timelineHistory', 'checkpointAfterPromote'].includes(c)),
      ['promote', 'syncSlots', 'timelineHistory', 'checkpointAfterPromote'],
    );
    assert.equal((await x.m.dcs.getCluster()).history?.lines[0]?.newLeader, 'srv1');
    assert.equal(x.ex.runner.current, null);
  });

  it('a requested switchover\'s candidate takes the key, promotes, and deletes the request (after signalling the promotion)', async () => {
    const x = await direct({ instance: runningReplica() });
    await x.m.dcs.setFailover({ leader: 'srv2', candidate: 'srv1' });
    const version = (await x.m.dcs.getCluster()).failover!.keyVersion;
    await x.run(d('acquire-and-promote', { promote: true, failoverVersion: version, ifLockLost: noAction }), replica());
    const view = await x.m.dcs.getCluster();
    assert.equal(view.leader?.name, 'srv1');
    assert.equal(view.failover, null, 'the request is gone');
    assert.equal(x.m.pg.instance.inRecovery, false, 'promoted');
  });

  it('a failed promote is logged and reported as the member problem', async () => {
    const x = await direct({ instance: runningReplica() });
    await x.m.dcs.attemptToAcquireLeader(TTL_S * 1000);
    x.m.pg.failNext('promote', new Error('promote request not acted on'));
    await x.run(d('promote', { ifLockLost: noAction }), replica());
    assert.ok(x.m.lines.some((l) => l.includes('ERROR: promote failed: promote request not acted on')), x.m.lines.join('\n'));
    assert.deepEqual(x.ex.problem && [x.ex.problem.action, x.ex.problem.message], ['promote', 'promote request not acted on']);
    assert.equal(x.m.pg.instance.inRecovery, true);
  });

  it('bootstraps and takes the key; a failed initdb gives initialize back and stops the agent', async () => {
    const x = await direct();
    await x.m.dcs.cancelInitialization();
    await x.run(d('bootstrap', { ifLockLost: noAction }), replica({ role: 'stopped', dataDir: 'empty' }));
    assert.equal((await x.m.dcs.getCluster()).leader?.name, 'srv1');
    const y = await direct();
    await y.m.dcs.cancelInitialization();
    y.m.pg.failNext('bootstrap', new Error('initdb: invalid locale'));
    await y.run(d('bootstrap', { ifLockLost: noAction }), replica({ role: 'stopped', dataDir: 'empty' }));
    assert.deepEqual(y.fatal, ['Failed to bootstrap cluster']);
    assert.equal((await y.m.dcs.getCluster()).initialize, null, 'initialize given back');
    assert.equal(y.ex.problem?.action, 'bootstrap');
  });

  it('a lost initialize race runs ifLockLost instead of initdb', async () => {
    const x = await direct();
    const done = await x.run(d('bootstrap', { ifLockLost: d('wait-for-initialize', {}) }), replica({ role: 'stopped', dataDir: 'empty' }));
    assert.equal(done.action, 'wait-for-initialize');
    assert.ok(!x.m.pg.callNames.includes('bootstrap'));
  });

  it('restarts a crashed primary in place while holding the key', async () => {
    const x = await direct({ instance: runningPrimary({ running: false, stalePid: true }) });
    await x.m.dcs.attemptToAcquireLeader(TTL_S * 1000);
    await x.run(d('restart-primary', { ifLockLost: noAction }), primary({ role: 'crashed' }));
    assert.deepEqual(x.m.pg.calls.filter((c) => c === 'configure primary' || c === 'start'), ['configure primary', 'start']);
    assert.ok(x.ex.self.startingSinceMonoMs !== null);
  });

  it('counts primary_start_timeout from the first restart attempt; PostgreSQL answering SQL ends the count (issue 17)', async () => {
    const x = await direct({ instance: runningPrimary({ running: false, stalePid: true }) });
    await x.m.dcs.attemptToAcquireLeader(TTL_S * 1000);
    x.m.pg.failNext('start', new Error('could not open directory "base": Permission denied'));
    await x.run(d('restart-primary', { ifLockLost: noAction }), primary({ role: 'crashed' }));
    const first = x.ex.self.startingSinceMonoMs;
    assert.ok(first !== null);
    x.m.clock.advance(5_000);
    await x.run(d('restart-primary', { ifLockLost: noAction }), primary({ role: 'crashed' }));
    assert.equal(x.ex.self.startingSinceMonoMs, first, 'a second attempt keeps the first attempt\'s time');
    await x.run(d('renew', { ifLockLost: noAction }), primary());
    assert.equal(x.ex.self.startingSinceMonoMs, null, 'a primary that answers ends it');
  });

  it('a failed start of the crashed primary is remembered for one cycle with a view; giving the key up then reports role demoted', async () => {
    const x = await direct({ instance: runningPrimary({ running: false, stalePid: true }) });
    await x.m.dcs.attemptToAcquireLeader(TTL_S * 1000);
    x.m.pg.failNext('start', new Error('pg_ctl start: could not start server'));
    await x.run(d('restart-primary', { ifLockLost: noAction }), primary({ role: 'crashed' }));
    assert.equal(x.ex.self.primaryStartFailed, true, 'decide must see that the start in place failed');
    assert.ok(x.m.lines.some((l) => /starting primary after failure failed: pg_ctl start: could not start server/.test(l)), x.m.lines.join('\n'));
    // The next cycle (decide saw the flag): the key goes, the callback layer is told.
    const view = await x.m.dcs.getCluster();
    const state = x.m.cycleState(input({ view, local: primary({ role: 'crashed' }), config: { name: 'srv1' }, self: x.ex.snapshot() }), view);
    await x.ex.execute(d('release-leader', { demoted: true }), state);
    assert.ok(x.m.pg.callNames.includes('markDemoted'));
    assert.equal(x.m.store.get(LEADER_KEY), null);
    assert.equal(x.ex.self.primaryStartFailed, false, 'read once, then forgotten');
    assert.equal(x.ex.self.startingSinceMonoMs, null);
  });

  it('an aborted start of the crashed primary is not taken for a failed one (the demotion decided about the key)', async () => {
    const x = await direct({ instance: runningPrimary({ running: false, stalePid: true }) });
    await x.m.dcs.attemptToAcquireLeader(TTL_S * 1000);
    const release = x.m.pg.hold('start');
    x.m.pg.failNext('start', new Error('pg_ctl start: killed'));
    const view = await x.m.dcs.getCluster();
    await x.ex.execute(d('restart-primary', { ifLockLost: noAction }), x.m.cycleState(input({ view, local: primary({ role: 'crashed' }), config: { name: 'srv1' } }), view));
    const aborting = x.ex.runner.abort(2_000);
    release();
    assert.equal(await aborting, 'starting primary after failure');
    assert.notEqual(x.ex.self.primaryStartFailed, true);
  });

  it('rewinds from the leader; a failed rewind is remembered for decide (reinit needed)', async () => {
    const x = await direct({ instance: runningReplica({ running: false }) });
    await x.run(d('rewind', { leader: 'srv2' }), replica({ role: 'stopped' }));
    assert.deepEqual(x.ex.self.divergence, { leader: 'srv2', diverged: false });
    assert.equal(x.ex.upstream, 'srv2');
    x.m.pg.rewindResult = { status: 'needs-reinit', reason: 'pg_rewind failed', rewindError: 'could not find common ancestor' };
    await x.run(d('rewind', { leader: 'srv2' }), replica({ role: 'stopped' }));
    assert.equal(x.ex.self.rewindFailed, true);
    assert.ok(x.m.lines.some((l) => l.includes('ERROR: pg_rewind failed: could not find common ancestor')));
    await x.run(d('reinit', { leader: 'srv2' }), replica({ role: 'stopped' }));
    assert.equal(x.ex.self.rewindFailed, false, 'a reinit clears it');
    x.m.pg.rewindResult = { status: 'source-unavailable', reason: 'cannot rewind from srv2 now: srv2 is unreachable' };
    await x.run(d('rewind', { leader: 'srv2' }), replica({ role: 'stopped' }));
    assert.equal(x.ex.self.rewindFailed, false, 'a source that went away is no failed rewind');
    assert.ok(x.m.lines.some((l) => l.includes('WARNING: cannot rewind from srv2 now')));
    assert.ok(x.m.pg.calls.includes('reinit srv2'));
  });

  it('cancel-long-action aborts what runs (a promote after the key was lost)', async () => {
    const x = await direct({ instance: runningReplica() });
    await x.m.dcs.attemptToAcquireLeader(TTL_S * 1000);
    const release = x.m.pg.hold('promote');
    const view = await x.m.dcs.getCluster();
    await x.ex.execute(d('promote', { ifLockLost: noAction }), x.m.cycleState(input({ view, local: replica(), config: { name: 'srv1' } }), view));
    assert.equal(x.ex.runner.current?.name, 'promote');
    const cancelled = x.ex.execute(d('cancel-long-action', {}), x.m.cycleState(input({ view, local: replica(), config: { name: 'srv1' } }), view));
    release();
    await cancelled;
    assert.equal(x.ex.runner.current, null);
    await x.ex.runner.settle(1_000);
    assert.ok(!x.m.pg.callNames.includes('syncSlots'), 'an aborted promote takes no further step');
  });

  it('clones from a member with a conn_url; warns and waits when it has none', async () => {
    const x = await direct({ instance: { dataDir: 'empty' } });
    await x.run(d('clone', { from: 'srv2', fromLeader: false }), replica({ role: 'stopped', dataDir: 'empty' }));
    assert.ok(x.m.pg.calls.includes('createReplica srv2'));
    await x.m.peer('srv9', { connUrl: null });
    await x.run(d('clone', { from: 'srv9', fromLeader: false }), replica({ role: 'stopped', dataDir: 'empty' }));
    assert.ok(x.m.lines.some((l) => l.includes('WARNING: cannot clone from srv9: its member key has no conn_url')));
  });

  it('POST /restart and /reinitialize run through the same seam', async () => {
    const x = await direct({ instance: runningReplica() });
    assert.equal(await x.ex.startRestart(), true);
    await x.ex.runner.settle(1_000);
    x.m.pg.failNext('restart', new Error('pg_ctl restart failed'));
    assert.equal(await x.ex.startRestart(), false);
    await x.ex.runner.settle(1_000);
    assert.ok(x.m.lines.some((l) => l.includes('ERROR: restart failed: pg_ctl restart failed')));
    x.ex.startReinitialize('srv2', { host: 'srv2', port: 5432, name: 'srv2' }, null);
    await x.ex.runner.settle(1_000);
    assert.ok(x.m.pg.calls.includes('reinit srv2'));
    assert.equal(x.ex.upstream, 'srv2');
  });
});

describe('HA executor: replicas', () => {
  it('starts a stopped replica as a standby of the leader', async () => {
    const x = await direct({ instance: runningReplica({ running: false }) });
    await x.run(d('start-as-replica', { leader: 'srv2', checkDivergence: false }), replica({ role: 'stopped' }));
    assert.deepEqual(x.m.pg.calls.filter((c) => c.startsWith('configure') || c === 'start'), ['configure replica of srv2:5432', 'start']);
    assert.equal(x.ex.upstream, 'srv2');
  });

  it('checks divergence first (a crashed server in single-user mode) and does not start a diverged one', async () => {
    const x = await direct({ instance: runningReplica({ running: false, stalePid: true }) });
    x.m.pg.divergenceVerdict = { diverged: true, reason: 'local timeline 1 lsn 0/5029080 is past the switch point 0/5022428' };
    await x.run(d('start-as-replica', { leader: 'srv2', checkDivergence: true }), replica({ role: 'crashed' }));
    assert.ok(x.m.pg.calls.includes('divergence srv2 crashed'));
    assert.ok(!x.m.pg.callNames.includes('start'));
    assert.deepEqual(x.ex.self.divergence, { leader: 'srv2', diverged: true });
  });

  it('repoints a running replica at the leader; a divergence check that cannot answer is retried later', async () => {
    const x = await direct({ instance: runningReplica() });
    x.m.pg.failNext('divergence', new Error('could not connect to srv2'));
    await x.run(d('follow', { leader: 'srv2', repoint: true, checkDivergence: true }), replica());
    assert.ok(x.m.pg.calls.includes('follow srv2:5432'));
    assert.equal(x.ex.self.divergence, null);
    assert.equal(x.ex.upstream, 'srv2');
  });

  it('does not repoint at a leader without a conn_url', async () => {
    const x = await direct({ instance: runningReplica() });
    await x.m.peer('srv9', { connUrl: null });
    await x.run(d('follow', { leader: 'srv9', repoint: true, checkDivergence: false }), replica());
    assert.ok(!x.m.pg.callNames.includes('follow'));
    assert.ok(x.m.lines.some((l) => l.includes('cannot follow srv9: its member key has no conn_url')));
  });

  it('fatal: logs CRITICAL and stops the agent', async () => {
    const x = await direct({ instance: runningReplica() });
    await x.run(d('fatal', {}), replica());
    assert.deepEqual(x.fatal, ['fatal for the test']);
    assert.ok(x.m.lines.some((l) => l.endsWith('CRITICAL: fatal for the test')));
  });
});

describe('HA executor: the status line', () => {
  const heartbeats = (lines: string[]) => lines.filter((l) => l.includes('INFO: no-action for the test')).length;

  it('logs every cycle\'s line by default', async () => {
    const x = await direct({ instance: runningPrimary() });
    for (let i = 0; i < 3; i++) await x.run(noAction);
    assert.equal(heartbeats(x.m.lines), 3);
  });

  it('with log.deduplicate_heartbeat_logs, a line identical to the last is not logged again; a changed one is', async () => {
    const x = await direct({ instance: runningPrimary(), extraYaml: 'log:\n  deduplicate_heartbeat_logs: true\n' });
    for (let i = 0; i < 3; i++) await x.run(noAction);
    assert.equal(heartbeats(x.m.lines), 1);
    await x.run({ ...noAction, reason: 'something else' });
    await x.run(noAction);
    assert.equal(heartbeats(x.m.lines), 2, x.m.lines.join('\n'));
    assert.equal(x.m.lines.filter((l) => l.includes('INFO: something else')).length, 1);
  });
});

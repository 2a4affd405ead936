// The HA loop end to end without PostgreSQL: one member's loop on the memory store and a manual
// clock, PostgreSQL played by FakePostgres. Scenarios as an operator would tell them; the fake's
// call log shows what was done to the server, the store shows the keys.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { leaseDeadlineMonoMs } from '../../../src/dcs/index.js';
import { fastMember, SCOPE, TTL_S } from './fast-harness.js';
import { runningPrimary, runningReplica, FAKE_SYSID } from '../../helpers/fake-postgres.js';

const LEADER_KEY = `/service/${SCOPE}/leader`;

/**
 * After the cycle that stopped a primary, neither what GET /patroni answers from (the loop's last
 * observation) nor the member key says primary: another member's race read a stale "primary" as
 * "Primary (x) is still alive" and stood back (CI, test/e2e/callbacks.test.ts under load).
 */
function assertNoLongerPrimary(observed: string | undefined, published: string | undefined): void {
  assert.ok(observed === 'stopped' || observed === 'crashed', `the last observation is of the stopped server, not ${observed}`);
  assert.notEqual(published, 'primary', 'the member key no longer says primary');
}

describe('HA loop on a fake PostgreSQL', () => {
  it('bootstraps a new cluster: claims initialize, runs initdb, publishes the system identifier and config, takes the key', async () => {
    const m = await fastMember({ name: 'srv1' });
    const first = await m.cycle();
    assert.equal(first.action, 'bootstrap', m.lines.join('\n'));
    assert.deepEqual(m.pg.callNames.filter((c) => c === 'bootstrap' || c === 'controlData'), ['bootstrap', 'controlData']);
    const view = await m.dcs.getCluster();
    assert.equal(view.initialize, FAKE_SYSID);
    assert.equal(view.config?.data.ttl, TTL_S);
    assert.equal(view.leader?.name, 'srv1');
    assert.equal(m.loop.executor.self.leaseDeadlineMonoMs, leaseDeadlineMonoMs(m.clock.nowMs(), TTL_S * 1000), 'the belief is what the store returned');
    assert.ok(m.lines.some((l) => l.endsWith('INFO: initialized a new cluster')));
    const next = await m.cycle();
    assert.equal(next.action, 'renew');
    assert.equal(next.reason, 'no action. I am (srv1), the leader with the lock');
  });

  it('renews every cycle: the lease belief moves with the clock, the leader publishes its position and keeps slots for replicas', async () => {
    const m = await fastMember({ name: 'srv1', instance: runningPrimary({ lsn: 0x5000000n }) });
    await m.dcs.initialize(FAKE_SYSID, { create: true });
    await m.dcs.attemptToAcquireLeader(TTL_S * 1000);
    await m.peer('srv2');
    assert.equal((await m.cycle()).action, 'renew');
    const first = m.loop.executor.self.leaseDeadlineMonoMs!;
    m.clock.advance(10_000);
    assert.equal((await m.cycle()).action, 'renew');
    assert.equal(m.loop.executor.self.leaseDeadlineMonoMs, first + 10_000);
    const view = await m.dcs.getCluster();
    assert.equal(view.status.lastLsn, 0x5000000n);
    assert.ok(m.pg.instance.slots.has('srv2'), 'a slot for the replica');
    assert.ok(view.config !== null, 'a leader without a config key writes bootstrap.dcs');
  });

  it('demotes at once when another member holds the key, and stops believing in the lease', async () => {
    const m = await fastMember({ name: 'srv1', instance: runningPrimary() });
    await m.dcs.initialize(FAKE_SYSID, { create: true });
    await m.dcs.attemptToAcquireLeader(TTL_S * 1000);
    await m.peer('srv2');
    assert.equal((await m.cycle()).action, 'renew');
    m.store.set(LEADER_KEY, 'srv2', { ttlMs: TTL_S * 1000 });
    const decision = await m.cycle();
    assert.equal(decision.action, 'demote', m.lines.join('\n'));
    assert.equal(decision.reason, 'demoting self because I do not have the lock and I was a leader');
    assert.equal(m.loop.executor.self.leaseDeadlineMonoMs, null);
    assert.ok(m.pg.calls.includes('stop immediate'), m.pg.calls.join('\n'));
    assert.ok(m.pg.calls.includes('configure replica of srv2:5432'), m.pg.calls.join('\n'));
    assertNoLongerPrimary(m.loop.last?.observation.state.role, (await m.dcs.getCluster()).members.find((x) => x.name === 'srv1')?.role);
    assert.equal((await m.cycle()).action, 'start-as-replica');
    assert.equal(m.pg.instance.running && m.pg.instance.inRecovery, true, 'runs as a standby');
    assert.equal(m.store.get(LEADER_KEY)?.value, 'srv2', 'the other member keeps its key');
  });

  it('takes over an expired key: acquires it, cleans the failover key, promotes and records the new timeline in history', async () => {
    const m = await fastMember({ name: 'srv2', instance: runningReplica({ lsn: 0x3000000n }) });
    const srv1 = await m.peer('srv1', { role: 'primary' });
    await srv1.initialize(FAKE_SYSID, { create: true });
    await srv1.setStatus({ lastLsn: 0x3000000n, slots: {}, retainSlots: [] });
    await srv1.attemptToAcquireLeader(TTL_S * 1000);
    assert.equal((await m.cycle()).action, 'follow');
    m.clock.advance(TTL_S * 1000 + 1);
    const decision = await m.cycle();
    assert.equal(decision.action, 'acquire-and-promote', m.lines.join('\n'));
    const view = await m.dcs.getCluster();
    assert.equal(view.leader?.name, 'srv2');
    assert.equal(m.pg.instance.inRecovery, false, 'promoted');
    assert.equal(m.pg.instance.timeline, 2);
    assert.deepEqual(view.history?.lines.map((l) => [l.timeline, l.newLeader]), [[1, 'srv2']]);
    assert.ok(m.pg.callNames.includes('checkpointAfterPromote'));
  });

  it('a promote that fails is logged, the key stays, and the next cycle promotes again', async () => {
    const m = await fastMember({ name: 'srv2', instance: runningReplica() });
    const srv1 = await m.peer('srv1', { role: 'primary' });
    await srv1.initialize(FAKE_SYSID, { create: true });
    await srv1.setStatus({ lastLsn: 0x3000000n, slots: {}, retainSlots: [] });
    m.pg.failNext('promote', new Error('pg_ctl promote: server did not promote in time'));
    assert.equal((await m.cycle()).action, 'acquire-and-promote');
    assert.ok(m.lines.some((l) => l.includes('ERROR: promote failed: pg_ctl promote: server did not promote in time')), m.lines.join('\n'));
    assert.equal(m.pg.instance.inRecovery, true, 'still a standby');
    assert.equal(m.loop.executor.problem?.action, 'promote', 'GET /patroni shows why');
    const again = await m.cycle();
    assert.equal(again.action, 'promote', m.lines.slice(-3).join('\n'));
    assert.equal(m.pg.instance.inRecovery, false);
  });

  it('hands over for a switchover: checkpoint, fast stop, key released with the shutdown checkpoint as the last position', async () => {
    const m = await fastMember({ name: 'srv1', instance: runningPrimary({ lsn: 0x7000028n }) });
    await m.dcs.initialize(FAKE_SYSID, { create: true });
    await m.dcs.attemptToAcquireLeader(TTL_S * 1000);
    await m.peer('srv2');
    m.peerStatus.set('http://srv2:8008/patroni', { state: 'running', role: 'replica', xlog: { received_location: 0x7000028, replayed_location: 0x7000028 } });
    assert.equal((await m.cycle()).action, 'renew');
    await m.dcs.setFailover({ leader: 'srv1', candidate: 'srv2' });
    const decision = await m.cycle();
    assert.equal(decision.action, 'hand-over', m.lines.join('\n'));
    const stopped = m.pg.calls.slice(m.pg.calls.indexOf('checkpoint'));
    assert.deepEqual(stopped.slice(0, 3), ['checkpoint', 'stop fast', 'controlData'], m.pg.calls.join('\n'));
    const view = await m.dcs.getCluster();
    assert.equal(view.leader, null, 'released at once');
    assert.equal(view.status.lastLsn, 0x7000028n, 'with the shutdown checkpoint');
    assert.equal(m.pg.instance.standbySignal, true, 'configured as a standby');
    assertNoLongerPrimary(m.loop.last?.observation.state.role, view.members.find((x) => x.name === 'srv1')?.role);
  });

  it('clones an empty data directory from the leader and starts it as its standby', async () => {
    const m = await fastMember({ name: 'srv3' });
    const srv1 = await m.peer('srv1', { role: 'primary' });
    await srv1.initialize(FAKE_SYSID, { create: true });
    await srv1.attemptToAcquireLeader(TTL_S * 1000);
    const decision = await m.cycle();
    assert.equal(decision.action, 'clone', m.lines.join('\n'));
    assert.deepEqual(m.pg.callNames.filter((c) => c === 'createReplica' || c === 'start'), ['createReplica', 'start']);
    assert.equal(m.pg.instance.upstream?.host, 'srv1');
    assert.equal(m.pg.instance.upstream?.slotName, 'srv3');
    assert.ok(m.lines.some((l) => /INFO: replica created from srv1 with basebackup/.test(l)));
  });
});

// failsafe_mode through the HA loop on the memory store and a fake PostgreSQL (fast-harness.ts): the
// leader keeps the failsafe key, a primary cut off from the store lives on its members' answers to
// POST /failsafe and demotes when one stops answering, and takes the key back when the store returns.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WantedSlot } from '../../../src/postgres/index.js';
import type { FailsafePing } from '../../../src/protocol/index.js';
import { fastMember, TTL_S } from './fast-harness.js';
import { runningPrimary, runningReplica, FAKE_SYSID } from '../../helpers/fake-postgres.js';

const FAILSAFE_ON = { ttl: TTL_S, loop_wait: 10, retry_timeout: 10, maximum_lag_on_failover: 1048576, failsafe_mode: true };

/** srv1, running primary holding the key, srv2 a member; POST /failsafe answered by `answer`. */
async function leaderWithReplica(answer: () => { status: number; text: string }) {
  const posts: Array<{ url: string; body: FailsafePing }> = [];
  const m = await fastMember({
    name: 'srv1',
    instance: runningPrimary({ lsn: 0x5000000n }),
    postFailsafe: async (url, body) => {
      posts.push({ url, body });
      return answer();
    },
  });
  await m.dcs.initialize(FAKE_SYSID, { create: true });
  await m.dcs.setConfig(FAILSAFE_ON);
  await m.dcs.attemptToAcquireLeader(TTL_S * 1000);
  await m.peer('srv2');
  return { m, posts };
}

describe('failsafe mode in the HA loop', () => {
  it('the leader publishes every member in the failsafe key, once, and GET /failsafe has it', async () => {
    const { m } = await leaderWithReplica(() => ({ status: 200, text: 'Accepted' }));
    assert.equal((await m.cycle()).action, 'renew');
    const expected = { srv1: 'http://srv1:8008/patroni', srv2: 'http://srv2:8008/patroni' };
    assert.deepEqual((await m.dcs.getCluster()).failsafe, expected);
    assert.deepEqual(m.loop.failsafe.topology, expected);
    const version = m.store.get('/service/fast/failsafe')!.version;
    await m.cycle();
    assert.equal(m.store.get('/service/fast/failsafe')!.version, version, 'unchanged topology: not written again');
  });

  it('keeps the primary running without the store while the member accepts, and demotes once it does not', async () => {
    let answer = { status: 200, text: 'Accepted' };
    const { m, posts } = await leaderWithReplica(() => answer);
    await m.cycle();
    m.dcs.setReachable(false);
    m.clock.advance(TTL_S * 2000); // the lease is long gone: only failsafe mode can keep it
    const kept = await m.cycle();
    assert.equal(kept.action, 'keep-failsafe', m.lines.join('\n'));
    assert.ok(m.lines.some((l) => l.endsWith('INFO: continue to run as a leader because failsafe mode is enabled and all members are accessible')), m.lines.join('\n'));
    assert.deepEqual(posts.map((p) => [p.url, p.body.name, p.body.api_url]), [['http://srv2:8008/failsafe', 'srv1', 'http://srv1:8008/patroni']]);
    assert.equal(posts[0]!.body.conn_url, 'postgres://srv1:5432/postgres');
    assert.equal(posts[0]!.body.xlog_location, 0x5000000, 'our WAL position travels with the ping');
    assert.ok(!m.pg.calls.some((c) => c.startsWith('stop')), m.pg.calls.join('\n'));
    assert.ok(m.loop.failsafe.activeUntilMonoMs! > m.clock.nowMs());
    assert.equal(m.loop.failsafe.isActive(TTL_S * 1000), true);

    answer = { status: 500, text: 'Running as a leader' };
    m.clock.advance(10_000);
    const demoted = await m.cycle();
    assert.equal(demoted.action, 'demote', m.lines.join('\n'));
    assert.ok(m.lines.some((l) => /WARNING: failsafe: not every member accepted POST \/failsafe: srv2 \(500 Running as a leader\)/.test(l)), m.lines.join('\n'));
    assert.ok(m.pg.calls.includes('stop immediate'), m.pg.calls.join('\n'));
    assert.equal(m.loop.failsafe.activeUntilMonoMs, null);
  });

  it('takes the expired key back as the running primary when the store returns', async () => {
    const { m } = await leaderWithReplica(() => ({ status: 200, text: 'Accepted' }));
    await m.cycle();
    m.dcs.setReachable(false);
    m.clock.advance(TTL_S * 2000);
    assert.equal((await m.cycle()).action, 'keep-failsafe');
    m.dcs.setReachable(true);
    await m.peer('srv2'); // its member key expired with the clock too
    const back = await m.cycle();
    assert.equal(back.action, 'acquire-and-promote', m.lines.join('\n'));
    assert.equal(back.reason, 'acquired session lock as a leader');
    assert.equal((await m.dcs.getCluster()).leader?.name, 'srv1');
    assert.equal(m.loop.failsafe.activeUntilMonoMs, null);
    assert.ok(!m.pg.calls.some((c) => c.startsWith('stop')), m.pg.calls.join('\n'));
  });

  it('a replica that accepted a POST /failsafe does not race for the free key; after ttl it does', async () => {
    const m = await fastMember({ name: 'srv2', instance: runningReplica() });
    await m.dcs.initialize(FAKE_SYSID, { create: true });
    await m.dcs.setConfig(FAILSAFE_ON);
    const srv1 = await m.peer('srv1', { role: 'primary' });
    await srv1.attemptToAcquireLeader(TTL_S * 1000);
    await srv1.setFailsafe({ srv1: 'http://srv1:8008/patroni', srv2: 'http://srv2:8008/patroni' });
    await m.cycle();
    const self = { name: 'srv2', failsafeMode: true, runsAsPrimary: false, leaderOrPromoting: false, walLsn: null };
    assert.equal(m.loop.failsafe.accept({ name: 'srv1' }, self).status, 200);
    m.store.delete('/service/fast/leader');
    const held = await m.cycle();
    assert.equal(held.action, 'follow', m.lines.join('\n'));
    assert.match(held.reason, /following a leader \(srv1\)/);
    m.clock.advance(TTL_S * 1000);
    await m.peer('srv1', { role: 'primary' });
    const race = await m.cycle();
    assert.equal(race.action, 'acquire-and-promote', `the promise is over: the normal race rules apply\n${m.lines.join('\n')}`);
  });

  it("the primary's POST /failsafe carries its slot positions, read without touching its slots; a failed read sends none", async () => {
    const { m, posts } = await leaderWithReplica(() => ({ status: 200, text: 'Accepted' }));
    await m.cycle();
    m.pg.slotPositionsResult = { srv2: 0x4000000n };
    m.dcs.setReachable(false);
    m.clock.advance(TTL_S * 2000);
    const before = m.pg.calls.length;
    assert.equal((await m.cycle()).action, 'keep-failsafe', m.lines.join('\n'));
    // What the status key would carry (member_slots_ttl > 0: every slot and our own name at our WAL position).
    assert.deepEqual(posts[0]!.body.slots, { srv2: 0x4000000, srv1: 0x5000000 });
    assert.ok(!m.pg.calls.slice(before).some((c) => c.startsWith('syncSlots')), `no slot is created, dropped or advanced on the primary without the store\n${m.pg.calls.join('\n')}`);

    m.pg.failNext('slotPositions', new Error('connection refused'));
    m.clock.advance(10_000);
    assert.equal((await m.cycle()).action, 'keep-failsafe', m.lines.join('\n'));
    assert.equal(posts.length, 2);
    assert.equal(posts[1]!.body.slots, undefined);
    assert.ok(m.lines.some((l) => l.includes("WARNING: could not read the replication slots' positions for POST /failsafe: connection refused")), m.lines.join('\n'));
  });

  it('a replica advances its permanent slots to the positions of the POST /failsafe it accepted while the store is down; with failsafe_mode off it leaves them alone', async () => {
    const permanent = { dcs_slot_0: { type: 'logical', database: 'postgres', plugin: 'test_decoding' } };
    for (const failsafeMode of [true, false]) {
      const m = await fastMember({ name: 'srv2', instance: runningReplica() });
      await m.dcs.initialize(FAKE_SYSID, { create: true });
      await m.dcs.setConfig({ ...FAILSAFE_ON, failsafe_mode: failsafeMode, slots: permanent });
      const srv1 = await m.peer('srv1', { role: 'primary' });
      await srv1.attemptToAcquireLeader(TTL_S * 1000);
      const wanted: Array<Record<string, bigint | undefined>> = [];
      const sync = m.pg.syncSlots.bind(m.pg);
      m.pg.syncSlots = (i) => {
        wanted.push(Object.fromEntries(i.wanted.map((w) => [w.name, (w as WantedSlot).lsn])));
        return sync(i);
      };
      await m.cycle(); // points primary_conninfo at srv1
      await m.cycle();
      assert.equal(wanted.length, 1, `a steady replica keeps its slots with the store\n${m.lines.join('\n')}`);
      const self = { name: 'srv2', failsafeMode, runsAsPrimary: false, leaderOrPromoting: false, walLsn: null };
      assert.equal(m.loop.failsafe.accept({ name: 'srv1', slots: { dcs_slot_0: 0x6000000, srv2: 'junk' } }, self).status, failsafeMode ? 200 : 502);
      m.dcs.setReachable(false);
      m.clock.advance(5_000);
      assert.equal((await m.cycle()).action, 'no-action', m.lines.join('\n'));
      if (failsafeMode) {
        assert.equal(wanted.length, 2, m.lines.join('\n'));
        assert.equal(wanted[1]!.dcs_slot_0, 0x6000000n, "the copy of dcs_slot_0 goes to the primary's confirmed position");
      } else {
        assert.equal(wanted.length, 1, 'without failsafe_mode a replica does not touch its slots while the store is down (Patroni)');
      }
    }
  });
});

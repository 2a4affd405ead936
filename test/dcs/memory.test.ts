import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DcsUnavailable, ManualClock, MemoryDcsStore, decodeFailover, decodeMember, encodeMember } from '../../src/dcs/index.js';
import { runDcsContract } from './contract.js';

runDcsContract('memory', async () => {
  const clock = new ManualClock(1_000);
  const store = new MemoryDcsStore({ clock });
  return {
    client: async (name) => store.client(name, { scope: 'contract' }),
    elapse: async (ms) => clock.advance(ms),
    expirySlackMs: 0,
    nowMs: () => clock.nowMs(),
    close: async () => {},
  };
});

describe('memory DCS', () => {
  it('throws DcsUnavailable while a member is cut off, and works again afterwards', async () => {
    const store = new MemoryDcsStore({ clock: new ManualClock() });
    const dcs = store.client('srv1', { scope: 'x' });
    dcs.setReachable(false);
    await assert.rejects(dcs.getCluster(), DcsUnavailable);
    await assert.rejects(dcs.updateLeader(1000, null), DcsUnavailable);
    dcs.setReachable(true);
    assert.equal((await dcs.getCluster()).leader, null);
  });

  it('keeps clusters of different scopes apart', async () => {
    const store = new MemoryDcsStore({ clock: new ManualClock() });
    const one = store.client('srv1', { scope: 'one' });
    const two = store.client('srv1', { scope: 'two' });
    assert.notEqual(await one.attemptToAcquireLeader(1000), null);
    assert.notEqual(await two.attemptToAcquireLeader(1000), null);
    await one.deleteCluster();
    assert.equal((await two.getCluster()).leader?.name, 'srv1');
    assert.equal(store.get('/service/two/leader')?.value, 'srv1', 'Patroni key layout under the default namespace');
  });

  it('cancels its timers when keys go away, so nothing is left pending', async () => {
    const clock = new ManualClock();
    const store = new MemoryDcsStore({ clock });
    const dcs = store.client('srv1', { scope: 'x' });
    await dcs.attemptToAcquireLeader(1000);
    await dcs.deleteLeader();
    const watching = dcs.watch(500);
    await dcs.close();
    assert.equal(await watching, 'aborted');
    assert.equal(clock.pendingTimers, 0);
  });
});

describe('cluster key codec', () => {
  it("reads Patroni's member JSON, including the legacy master role", () => {
    const member = decodeMember(
      'pg1',
      JSON.stringify({
        conn_url: 'postgres://10.0.0.1:5432/postgres',
        api_url: 'http://10.0.0.1:8008/patroni',
        state: 'running',
        role: 'master',
        version: '3.0.2',
        xlog_location: 50331744,
        timeline: 2,
        tags: { nofailover: true },
        custom: 1,
      }),
      7,
    );
    assert.equal(member.role, 'primary');
    assert.equal(member.xlogLocation, 50331744n);
    assert.deepEqual(member.extra, { custom: 1 });
    assert.equal(JSON.parse(encodeMember(member)).custom, 1, 'unknown fields survive a round trip');
  });

  it('carries the fence and watchdog words as `fence` and `watchdog`, and leaves them out when unset', () => {
    const text = encodeMember({ ...decodeMember('x', '{}', 1), fence: 'armed 4.2s', watchdog: 'active 25s' });
    assert.deepEqual([JSON.parse(text).fence, JSON.parse(text).watchdog], ['armed 4.2s', 'active 25s']);
    const back = decodeMember('x', text, 1);
    assert.deepEqual([back.fence, back.watchdog, back.extra], ['armed 4.2s', 'active 25s', undefined]);
    const plain = JSON.parse(encodeMember(decodeMember('x', '{"state":"running"}', 1)));
    assert.equal('fence' in plain || 'watchdog' in plain, false);
  });

  it('writes LSNs beyond 2^53 as decimal strings and reads them back exactly', () => {
    const big = 0xffff_ffff_ffff_fff0n;
    const text = encodeMember({ ...decodeMember('x', '{}', 1), replayedLsn: big });
    assert.equal(decodeMember('x', text, 1).replayedLsn, big);
  });

  it("reads the failover key's legacy leader:candidate form and treats {} as no request", () => {
    assert.deepEqual(decodeFailover('pg1:pg2', 3), { leader: 'pg1', candidate: 'pg2', scheduledAt: null, keyVersion: 3 });
    assert.equal(decodeFailover('{}', 3), null);
    assert.deepEqual(decodeFailover('{"member":"pg2","scheduled_at":"nonsense"}', 4)?.scheduledAt, { text: 'nonsense', ms: null });
  });
});

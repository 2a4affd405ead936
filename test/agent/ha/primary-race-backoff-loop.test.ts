// primary_race_backoff through the HA loop (fast-harness.ts: memory store, manual clock, fake
// PostgreSQL): the loop keeps what decide needs between cycles (the previous WAL position, the
// countdown's start), so a replica whose WAL moves waits and one whose WAL stands still races.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fastMember, TTL_S } from './fast-harness.js';
import { FakePostgres, runningReplica, FAKE_SYSID } from '../../helpers/fake-postgres.js';

const BACKOFF_S = 30;
const LOOP_WAIT_S = 10;
const MOVED = /My \(srv2\) wal position moved since last heart beat loop, (-?\d+) seconds until leader race/;

/** srv2, a replica streaming from srv1, which holds the key with primary_race_backoff set. */
async function streamingReplica() {
  const m = await fastMember({ name: 'srv2', instance: runningReplica({ lsn: 0x3000000n }) });
  // The fake reports no WAL receiver; this replica streams (Patroni's replication_state 'streaming').
  const plain = FakePostgres.prototype.serverState;
  m.pg.serverState = async (timeoutMs) => {
    const answer = await plain.call(m.pg, timeoutMs);
    answer.server.walReceiver = { status: 'streaming', receivedTimeline: 1, flushedLsn: answer.server.receivedLsn, senderHost: 'srv1', senderPort: 5432, slotName: 'srv2', lastMessageReceivedAt: null };
    return answer;
  };
  const srv1 = await m.peer('srv1', { role: 'primary' });
  await srv1.initialize(FAKE_SYSID, { create: true });
  await srv1.setConfig({ ttl: TTL_S, loop_wait: LOOP_WAIT_S, retry_timeout: 10, maximum_lag_on_failover: 1048576, primary_race_backoff: BACKOFF_S });
  await srv1.setStatus({ lastLsn: 0x3000000n, slots: {}, retainSlots: [] });
  await srv1.attemptToAcquireLeader(TTL_S * 1000);
  assert.equal((await m.cycle()).action, 'follow');
  return m;
}

describe('primary_race_backoff in the HA loop', () => {
  it('waits while the WAL moves, counting down from the first leaderless cycle, then races when it is over', async () => {
    const m = await streamingReplica();
    m.clock.advance(TTL_S * 1000 + 1);
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      m.pg.instance.lsn += 0x1000n;
      const d = await m.cycle();
      assert.equal(d.action, 'no-action', m.newLines().join('\n'));
      seen.push(Number(MOVED.exec(d.reason)![1]));
      m.clock.advance(LOOP_WAIT_S * 1000);
    }
    assert.deepEqual(seen, [30, 20, 10]);
    m.pg.instance.lsn += 0x1000n;
    const d = await m.cycle();
    assert.equal(d.action, 'acquire-and-promote', `the backoff is over: ${d.reason}`);
    assert.equal((await m.dcs.getCluster()).leader?.name, 'srv2');
  });

  it('races at the second leaderless cycle when the WAL stands still', async () => {
    const m = await streamingReplica();
    m.clock.advance(TTL_S * 1000 + 1);
    assert.match((await m.cycle()).reason, MOVED, 'the first loop_wait is always waited');
    m.clock.advance(LOOP_WAIT_S * 1000);
    assert.equal((await m.cycle()).action, 'acquire-and-promote');
  });

  it('starts a fresh countdown after a leader came back and went again', async () => {
    const m = await streamingReplica();
    m.clock.advance(TTL_S * 1000 + 1);
    assert.match((await m.cycle()).reason, MOVED);
    const srv1 = await m.peer('srv1', { role: 'primary' });
    assert.ok(await srv1.attemptToAcquireLeader(TTL_S * 1000));
    assert.equal((await m.cycle()).action, 'follow');
    assert.equal(m.loop.executor.self.primaryRaceBackoffSinceMonoMs, null, 'reset by the leader');
    m.clock.advance(TTL_S * 1000 + 1);
    assert.equal(Number(MOVED.exec((await m.cycle()).reason)![1]), BACKOFF_S);
  });
});

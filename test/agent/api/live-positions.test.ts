// GET /patroni's replica positions are read at the request (api/live-positions.ts), as Patroni's are:
// the leader race of other members compares them with their own live position.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LivePositions } from '../../../src/agent/api/live-positions.js';
import type { ServerState } from '../../../src/postgres/index.js';
import type { MemberStatus } from '../../../src/protocol/index.js';

function server(over: Partial<ServerState>): ServerState {
  return {
    inRecovery: true,
    timeline: 1,
    currentLsn: null,
    receivedLsn: 0x3000000n,
    replayedLsn: 0x2ff0000n,
    lsn: 0x3000000n,
    lastReplayAt: new Date('2026-12-03T09:00:00Z'),
    postmasterStartedAt: new Date('2026-12-03T08:00:00Z'),
    serverVersionNum: 150000,
    walReceiver: null,
    replication: [],
    ...over,
  };
}

const replicaStatus = (): MemberStatus => ({
  state: 'running',
  role: 'replica',
  patroni: { version: '0.1.0', scope: 's', name: 'n' },
  xlog: { received_location: 0x1000000, replayed_location: 0x1000000, replayed_timestamp: null, paused: false },
});

describe('GET /patroni live replica positions', () => {
  it("replaces the last cycle's positions with the ones read now", async () => {
    const live = new LivePositions(async () => server({}));
    const out = await live.refresh(replicaStatus());
    assert.deepEqual(out.xlog, { received_location: 0x3000000, replayed_location: 0x2ff0000, replayed_timestamp: '2026-12-03T09:00:00.000Z', paused: false });
  });

  it("keeps the cycle's figures when the read fails, or the server was promoted meanwhile, and never reads for a primary", async () => {
    let reads = 0;
    const failing = new LivePositions(async () => {
      reads++;
      throw new Error('connection refused');
    });
    assert.deepEqual((await failing.refresh(replicaStatus())).xlog, replicaStatus().xlog);
    const promoted = new LivePositions(async () => server({ inRecovery: false, currentLsn: 0x4000000n }));
    assert.deepEqual((await promoted.refresh(replicaStatus())).xlog, replicaStatus().xlog);
    const primary: MemberStatus = { ...replicaStatus(), role: 'primary', xlog: { location: 5 } };
    assert.deepEqual(await failing.refresh(primary), primary);
    assert.equal(reads, 1, 'the primary was not read');
  });

  it('requests at the same moment share one read', async () => {
    let reads = 0;
    const live = new LivePositions(async () => {
      reads++;
      return server({});
    });
    await Promise.all([live.refresh(replicaStatus()), live.refresh(replicaStatus()), live.refresh(replicaStatus())]);
    assert.equal(reads, 1);
  });
});

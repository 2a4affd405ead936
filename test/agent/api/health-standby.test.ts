// A standby leader is never a primary to a health check, also before the store's config key (which
// says "standby cluster") is in the view: right after its bootstrap /primary answered 200.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { healthCheckCode } from '../../../src/agent/api/health.js';
import type { HaSnapshot } from '../../../src/agent/api/types.js';
import type { MemberStatus } from '../../../src/protocol/index.js';

const ha: HaSnapshot = { isLeader: true, paused: false, nextRunAtMs: null, ttlSeconds: 30, maximumLagOnFailoverBytes: 1 << 20, latestEndLsn: null };
const standbyLeader: MemberStatus = {
  state: 'running',
  role: 'standby_leader',
  patroni: { version: '0.1.0', scope: 'batman1', name: 'node1' },
  xlog: { received_location: 100, replayed_location: 100, replayed_timestamp: null, paused: false },
  replication_state: 'streaming',
};

it('a standby leader answers /primary 503 and /standby_leader 200 without a view of the config key', () => {
  const q = new URLSearchParams();
  assert.equal(healthCheckCode('/primary', q, standbyLeader, ha, null), 503);
  assert.equal(healthCheckCode('/', q, standbyLeader, ha, null), 503);
  assert.equal(healthCheckCode('/standby_leader', q, standbyLeader, ha, null), 200);
  assert.equal(healthCheckCode('/leader', q, standbyLeader, ha, null), 200);
  assert.equal(healthCheckCode('/replica', q, standbyLeader, ha, null), 503);
});

// POST /reinitialize without from_leader copies from a running replica tagged clonefrom when there
// is one (Patroni's get_clone_member); with from_leader, or without such a replica, from the leader.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cloneFromReplica } from '../../../src/agent/api-impl.js';
import { member, view } from '../ha/fixtures.js';

describe('reinitialize source', () => {
  it('picks the running clonefrom replica furthest ahead, never itself or the leader', () => {
    const v = view({
      members: [
        member('srv1', { role: 'primary', tags: { clonefrom: true } }),
        member('srv2', { tags: { clonefrom: true }, replayedLsn: 100n }),
        member('srv3'),
        member('srv4', { tags: { clonefrom: true }, replayedLsn: 200n }),
        member('srv5', { tags: { clonefrom: true }, state: 'stopped', replayedLsn: 900n }),
      ],
    });
    assert.equal(cloneFromReplica(v, 'srv3'), 'srv4');
    assert.equal(cloneFromReplica(v, 'srv4'), 'srv2');
  });

  it('has none when no running replica is tagged clonefrom', () => {
    assert.equal(cloneFromReplica(view(), 'srv3'), null);
  });
});

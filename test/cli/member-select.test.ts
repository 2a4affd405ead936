import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterJson, ClusterMember } from '../../src/client/index.js';
import { confirmMembersMessage, selectMembers } from '../../src/cli/member-select.js';
import { splitClusterArg } from '../../src/cli/member-flow.js';

const m = (name: string, role: ClusterMember['role'], extra: Partial<ClusterMember> = {}): ClusterMember => ({ name, role, state: 'running', ...extra });
const cluster: ClusterJson = { scope: 'demo', members: [m('node1', 'leader'), m('node2', 'replica', { pending_restart: true }), m('node3', 'sync_standby')] };
const names = (s: ReturnType<typeof selectMembers>) => ('members' in s ? s.members.map((x) => x.name) : s.error);

describe('member selection for restart, reload, reinit', () => {
  it('takes every member matching the role when no names are given', () => {
    assert.deepEqual(names(selectMembers({ cluster, names: [], role: 'any' })), ['node1', 'node2', 'node3']);
    assert.deepEqual(names(selectMembers({ cluster, names: [], role: 'replica' })), ['node2', 'node3']);
    assert.deepEqual(names(selectMembers({ cluster, names: [], role: 'primary' })), ['node1']);
  });

  it('refuses unknown names and names that do not have the role, in patronictl words', () => {
    assert.equal(names(selectMembers({ cluster, names: ['node9'], role: 'any' })), 'node9 is not a member of cluster demo');
    assert.equal(names(selectMembers({ cluster, names: ['node1'], role: 'replica' })), "No 'replica' among provided members");
    assert.equal(names(selectMembers({ cluster: { scope: 'demo', members: [] }, names: [], role: 'any' })), "demo cluster doesn't have any members");
  });

  it('--pending keeps only members with a pending restart', () => {
    assert.deepEqual(names(selectMembers({ cluster, names: [], role: 'any', pending: true })), ['node2']);
    assert.equal(names(selectMembers({ cluster, names: ['node1'], role: 'any', pending: true })), 'No member has a pending restart');
  });

  it('asks in patronictl words', () => {
    const two = [m('a', 'replica'), m('b', 'replica')];
    assert.equal(confirmMembersMessage('restart', two, null), 'Are you sure you want to restart members a, b?');
    assert.equal(confirmMembersMessage('restart', two, '2026-12-01T02:00:00+00:00'), 'Are you sure you want to schedule restart of members a, b at 2026-12-01T02:00:00+00:00?');
    assert.match(confirmMembersMessage('restart', two, '2026-12-01T02:00:00+00:00', true), /identified at the scheduled time/);
  });

  it('accepts patronictl\'s leading cluster name and hactl\'s member list alike', () => {
    assert.deepEqual(splitClusterArg(['demo', 'node2'], 'demo'), { cluster: 'demo', members: ['node2'] });
    assert.deepEqual(splitClusterArg(['node2'], 'demo'), { members: ['node2'] });
    assert.deepEqual(splitClusterArg([], 'demo'), { members: [] });
  });
});

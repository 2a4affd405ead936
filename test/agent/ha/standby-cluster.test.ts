// decide() in a standby cluster (issue 16): the first member copies the remote instead of running
// initdb, the key holder is a standby leader following the remote, and no path of decide ends in a
// writable member (checked over every combination of the inputs that matter).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide, type Decision, type LocalPostgresState } from '../../../src/agent/ha/index.js';
import { upstreamTarget } from '../../../src/agent/ha/member-addresses.js';
import { standbyClusterOf } from '../../../src/agent/ha/standby-cluster.js';
import { asLeader, failover, health, input, member, primary, replica, view } from './fixtures.js';

const remote = standbyClusterOf({ standby_cluster: { host: '10.0.0.9', port: 5433 } })!;
const REMOTE = remote.name;
const standbyConfig = { standbyCluster: remote };

describe('standby cluster settings', () => {
  it('counts a section only with host, port or restore_command, and names the remote by where it streams from', () => {
    assert.equal(standbyClusterOf({}), null);
    assert.equal(standbyClusterOf({ standby_cluster: null }), null);
    assert.equal(standbyClusterOf({ standby_cluster: { primary_slot_name: 'x' } }), null);
    assert.equal(REMOTE, 'remote_member(10.0.0.9:5433)');
    assert.equal(standbyClusterOf({ standby_cluster: { host: 'h' } })!.port, 5432);
    const archive = standbyClusterOf({ standby_cluster: { restore_command: 'cp /a/%f %p' } })!;
    assert.equal(archive.host, null);
    assert.notEqual(standbyClusterOf({ standby_cluster: { host: 'h', primary_slot_name: 's' } })!.name, standbyClusterOf({ standby_cluster: { host: 'h' } })!.name);
  });
});

describe('where members of a standby cluster stream from', () => {
  it('the standby leader: the remote, with its slot and recovery settings; the others: the leader, restoring from the remote archive', () => {
    const r = standbyClusterOf({ standby_cluster: { host: 'dr', port: 6432, primary_slot_name: 'dr_slot', restore_command: 'cp /a/%f %p', recovery_min_apply_delay: '5min' } })!;
    assert.deepEqual(upstreamTarget(view(), r.name, 'srv2', true, r), { host: 'dr', port: 6432, slotName: 'dr_slot', restoreCommand: 'cp /a/%f %p', recoveryMinApplyDelay: '5min' });
    assert.deepEqual(upstreamTarget(view(), 'srv1', 'srv2', true, r), { host: 'srv1', port: 5432, slotName: 'srv2', restoreCommand: 'cp /a/%f %p' });
    assert.deepEqual(upstreamTarget(view(), 'srv1', 'srv2', true, null), { host: 'srv1', port: 5432, slotName: 'srv2' });
  });
});

describe('decide in a standby cluster', () => {
  it('the first member copies the remote (a standby leader), never initdb', () => {
    const d = decide(input({ view: view({ initialize: null, leaderName: null, members: [] }), local: replica({ dataDir: 'empty', role: 'stopped', systemIdentifier: null }), config: standbyConfig }));
    assert.equal(d.action, 'bootstrap');
    assert.equal(d.reason, 'trying to bootstrap a new standby leader');
    assert.equal((d as Extract<Decision, { action: 'bootstrap' }>).standby, true);
  });

  it('an archive-only section without replica methods has nothing to copy from: it says so and waits', () => {
    const archive = standbyClusterOf({ standby_cluster: { restore_command: 'cp /a/%f %p' } })!;
    const d = decide(input({ view: view({ initialize: null, leaderName: null, members: [] }), local: replica({ dataDir: 'empty', role: 'stopped', systemIdentifier: null }), config: { standbyCluster: archive } }));
    assert.equal(d.action, 'no-action');
    assert.match(d.reason, /neither host nor create_replica_methods/);
  });

  it('others wait for the standby leader, then clone from it', () => {
    const empty = replica({ dataDir: 'empty', role: 'stopped', systemIdentifier: null });
    assert.equal(decide(input({ view: view({ initialize: '', leaderName: null }), local: empty, config: standbyConfig })).reason, 'waiting for standby_leader to bootstrap');
    const d = decide(input({ local: empty, config: standbyConfig }));
    assert.equal(d.action, 'clone');
  });

  it('the key holder renews and streams from the remote', () => {
    const first = decide(asLeader({ local: replica({ receivingFrom: null }), config: standbyConfig }));
    assert.equal(first.action, 'renew');
    assert.equal(first.reason, 'promoted self to a standby leader because i had the session lock');
    assert.deepEqual((first as Extract<Decision, { action: 'renew' }>).follow, { leader: REMOTE, repoint: true, checkDivergence: true });
    const steady = decide(
      asLeader({ local: replica({ receivingFrom: REMOTE }), config: standbyConfig, self: { divergence: { leader: REMOTE, diverged: false } } }),
    );
    assert.equal(steady.reason, 'no action. I am (srv1), the standby leader with the lock');
    assert.deepEqual((steady as Extract<Decision, { action: 'renew' }>).follow, { leader: REMOTE, repoint: false, checkDivergence: false });
  });

  it('a primary holding the key stops and keeps the key (demote-cluster)', () => {
    const d = decide(asLeader({ local: primary(), config: standbyConfig }));
    assert.equal(d.action, 'demote');
    assert.equal(d.reason, 'cannot be a real primary in standby cluster');
    const demote = d as Extract<Decision, { action: 'demote' }>;
    assert.deepEqual([demote.mode, demote.releaseLeader, demote.keepLeader, demote.leader], ['graceful', false, true, REMOTE]);
  });

  it('the stopped key holder starts as a standby of the remote, rewinding first when it diverged', () => {
    const d = decide(asLeader({ local: primary({ role: 'crashed' }), config: standbyConfig }));
    assert.equal(d.action, 'start-as-replica');
    assert.equal((d as Extract<Decision, { action: 'start-as-replica' }>).leader, REMOTE);
    assert.equal((d as Extract<Decision, { action: 'start-as-replica' }>).keepLease, true, 'a standby leader starting up keeps its key');
    const diverged = decide(asLeader({ local: replica({ role: 'stopped' }), config: { ...standbyConfig, usePgRewind: true }, self: { divergence: { leader: REMOTE, diverged: true } } }));
    assert.equal(diverged.action, 'rewind');
    assert.equal((diverged as Extract<Decision, { action: 'rewind' }>).leader, REMOTE);
  });

  it('a member diverged from the standby leader rewinds from the remote primary, then follows the standby leader', () => {
    const d = decide(input({ local: replica({ role: 'stopped' }), config: { ...standbyConfig, usePgRewind: true }, self: { divergence: { leader: 'srv1', diverged: true } } }));
    assert.equal(d.action, 'rewind');
    const rewind = d as Extract<Decision, { action: 'rewind' }>;
    assert.deepEqual([rewind.leader, rewind.source], ['srv1', REMOTE]);
  });

  it('a key holder starting up as a primary is stopped', () => {
    const d = decide(asLeader({ local: replica({ role: 'starting', wasPrimary: true }), config: standbyConfig }));
    assert.equal(d.action, 'stop');
  });

  it('the healthiest replica takes a free key without promoting and follows the remote', () => {
    const d = decide(input({ view: view({ leaderName: null, members: [member('srv2'), member('srv3')] }), memberHealth: [health('srv3')], config: standbyConfig }));
    assert.equal(d.action, 'acquire-and-promote');
    const race = d as Extract<Decision, { action: 'acquire-and-promote' }>;
    assert.equal(race.promote, false);
    assert.equal(race.follow?.leader, REMOTE);
    assert.equal(race.reason, 'promoted self to a standby leader by acquiring session lock');
  });

  it('a replica follows the standby leader; a primary without the key is demoted', () => {
    const d = decide(input({ config: standbyConfig }));
    assert.equal(d.action, 'follow');
    assert.equal(d.reason, 'no action. I am (srv2), a secondary, and following a standby leader (srv1)');
    assert.equal(decide(input({ local: primary(), config: standbyConfig })).action, 'demote');
  });

  it('a switchover inside the standby cluster hands the key over', () => {
    const d = decide(asLeader({ local: replica({ receivingFrom: REMOTE }), view: view({ failover: failover({ leader: 'srv1', candidate: 'srv2' }) }), memberHealth: [health('srv2'), health('srv3')], config: standbyConfig }));
    assert.equal(d.action, 'hand-over');
  });

  it('no combination of inputs makes a member of a standby cluster writable', () => {
    const roles: LocalPostgresState['role'][] = ['primary', 'replica', 'starting', 'stopped', 'crashed'];
    let checked = 0;
    for (const role of roles) {
      for (const wasPrimary of [false, true]) {
        for (const dataDir of ['empty', 'valid'] as const) {
          for (const leaderName of [null, 'srv1', 'srv2']) {
            for (const initialize of [null, '', '7301234567890123456']) {
              for (const withFailover of [false, true]) {
                const local = role === 'primary' ? primary({ dataDir }) : replica({ role, wasPrimary, dataDir, systemIdentifier: dataDir === 'empty' ? null : '7301234567890123456' });
                const d = decide(
                  input({
                    view: view({ leaderName, initialize, failover: withFailover ? failover({ candidate: 'srv2' }) : null }),
                    local,
                    memberHealth: [health('srv1'), health('srv3')],
                    config: standbyConfig,
                  }),
                );
                const all: Decision[] = [d, ...('ifLockLost' in d ? [d.ifLockLost] : [])];
                for (const x of all) {
                  const what = `${x.action} (${x.reason}) for role ${role}, wasPrimary ${wasPrimary}, ${dataDir}, leader ${leaderName}, initialize ${initialize}`;
                  assert.notEqual(x.action, 'promote', what);
                  assert.notEqual(x.action, 'restart-primary', what);
                  if (x.action === 'acquire-and-promote') assert.equal(x.promote, false, what);
                  if (x.action === 'bootstrap') assert.equal(x.standby, true, what);
                }
                // A member running (or starting) writable is stopped at once, whatever else is going on.
                if (dataDir === 'valid' && (role === 'primary' || (role === 'starting' && wasPrimary))) {
                  assert.ok(d.action === 'demote' || d.action === 'stop', `${d.action} (${d.reason}) for a writable ${role}, leader ${leaderName}, initialize ${initialize}`);
                }
                checked++;
              }
            }
          }
        }
      }
    }
    assert.ok(checked > 300);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide, needsMemberHealth, type DecideInput, type Decision } from '../../../src/agent/ha/index.js';
import {
  MONO_NOW,
  PRIMARY_LSN,
  WALL_NOW,
  asLeader,
  failover,
  health,
  input,
  member,
  primary,
  replica,
  view,
} from './fixtures.js';

interface Expectation {
  action: Decision['action'];
  reason: string | RegExp;
  /** Other fields of the decision that must match exactly. */
  fields?: Record<string, unknown>;
  /** Substrings each of which must appear in some note. */
  notes?: string[];
  ifLockLost?: { action: Decision['action']; reason: string | RegExp; fields?: Record<string, unknown> };
}

interface Scenario {
  name: string;
  input: DecideInput;
  expect: Expectation;
}

const ISO_IN = (ms: number): string => new Date(WALL_NOW + ms).toISOString();
const scheduled = (ms: number) => ({ text: ISO_IN(ms), ms: WALL_NOW + ms });

const scenarios: Scenario[] = [
  // --- first boot -------------------------------------------------------------------------------
  {
    name: 'races for the initialize key and bootstraps a new cluster on first boot',
    input: input({ view: view({ initialize: null, leaderName: null, members: [] }), local: replica({ dataDir: 'empty', role: 'stopped', systemIdentifier: null }) }),
    expect: { action: 'bootstrap', reason: 'trying to bootstrap a new cluster', ifLockLost: { action: 'wait-for-initialize', reason: 'failed to acquire initialize lock' } },
  },
  {
    name: 'waits for the leader to bootstrap while another member holds the initialize key',
    input: input({ view: view({ initialize: '', leaderName: null }), local: replica({ dataDir: 'empty', role: 'stopped', systemIdentifier: null }) }),
    expect: { action: 'wait-for-initialize', reason: 'waiting for leader to bootstrap' },
  },
  {
    name: 'never bootstraps a member tagged nofailover',
    input: input({
      view: view({ initialize: null, leaderName: null, members: [] }),
      local: replica({ dataDir: 'empty', role: 'stopped', systemIdentifier: null }),
      config: { tags: { nofailover: true } },
    }),
    expect: { action: 'wait-for-initialize', reason: 'waiting for leader to bootstrap' },
  },
  {
    // Patroni's "bootstrap (without leader)" (dcs_failsafe_mode "new replica isn't promoted").
    name: 'restores itself with a no_leader replica method when the initialized cluster has no leader',
    input: input({ view: view({ leaderName: null }), local: replica({ dataDir: 'empty', role: 'stopped', systemIdentifier: null }), config: { canCloneWithoutLeader: true } }),
    expect: { action: 'clone', reason: 'trying to bootstrap (without leader)', fields: { from: null, fromLeader: false } },
  },
  {
    name: 'does not restore without a leader while another member initializes the cluster',
    input: input({ view: view({ initialize: '', leaderName: null }), local: replica({ dataDir: 'empty', role: 'stopped', systemIdentifier: null }), config: { canCloneWithoutLeader: true } }),
    expect: { action: 'wait-for-initialize', reason: 'waiting for leader to bootstrap' },
  },
  {
    name: 'waits for a leader when no replica method works without one',
    input: input({ view: view({ leaderName: null }), local: replica({ dataDir: 'empty', role: 'stopped', systemIdentifier: null }) }),
    expect: { action: 'wait-for-initialize', reason: 'waiting for leader to bootstrap' },
  },
  {
    name: 'clones from the leader once the cluster has one',
    input: input({ local: replica({ dataDir: 'empty', role: 'stopped', systemIdentifier: null }) }),
    expect: { action: 'clone', reason: "trying to bootstrap from leader 'srv1'", fields: { from: 'srv1', fromLeader: true } },
  },
  {
    name: 'clones from a running clonefrom replica rather than the leader',
    input: input({
      view: view({ members: [member('srv1', { role: 'primary' }), member('srv3', { tags: { clonefrom: true } })] }),
      local: replica({ dataDir: 'empty', role: 'stopped', systemIdentifier: null }),
    }),
    expect: { action: 'clone', reason: "trying to bootstrap from replica 'srv3'", fields: { from: 'srv3', fromLeader: false } },
  },
  {
    name: 'releases the leader key when its data directory is empty',
    input: asLeader({ local: replica({ dataDir: 'empty', role: 'stopped', systemIdentifier: null }) }),
    expect: { action: 'release-leader', reason: 'released leader key voluntarily as data dir empty and currently leader' },
  },
  {
    name: 'refuses to run data of another cluster',
    input: input({ local: replica({ systemIdentifier: '7399999999999999999' }) }),
    expect: { action: 'no-action', reason: 'data dir for the cluster is not empty, but system ID is invalid; consider doing reinitialize' },
  },
  {
    name: 'aborts when a replica finds no initialize key',
    input: input({ view: view({ initialize: null }) }),
    expect: { action: 'fatal', reason: 'No initialize key in DCS and PostgreSQL is running as replica, aborting start' },
  },
  {
    name: "adopts an existing primary's data when the initialize key is missing",
    input: asLeader({ view: view({ initialize: null }) }),
    expect: { action: 'renew', reason: 'no action. I am (srv1), the leader with the lock', fields: { writeInitialize: '7301234567890123456' } },
  },

  // --- the leader renews, or demotes -------------------------------------------------------------
  {
    name: 'renews the leader key every cycle as the primary holding it',
    input: asLeader(),
    expect: {
      action: 'renew',
      reason: 'no action. I am (srv1), the leader with the lock',
      ifLockLost: { action: 'demote', reason: 'demoted self because failed to update leader lock in DCS', fields: { mode: 'immediate', releaseLeader: false } },
    },
  },
  {
    name: 'promotes itself when it holds the key but runs as a replica',
    input: asLeader({ local: replica({ receivingFrom: null }) }),
    expect: {
      action: 'promote',
      reason: 'promoted self to leader because I had the session lock',
      ifLockLost: { action: 'no-action', reason: 'not promoting because failed to update leader lock in DCS' },
    },
  },
  {
    name: 'keeps running as primary while the lease it believes in outlasts the next cycle',
    input: asLeader({
      dcsOk: false,
      config: { ttlMs: 10_000, loopWaitMs: 2_000, retryTimeoutMs: 3_000 },
      self: { leaseDeadlineMonoMs: MONO_NOW + 9_000 },
    }),
    expect: { action: 'no-action', reason: /^continue to run as primary while the leader lease lasts \(9 seconds left\)/, notes: ['Error communicating with DCS'] },
  },
  {
    name: 'demotes itself when it cannot renew the leader key within ttl',
    input: asLeader({
      dcsOk: false,
      config: { ttlMs: 10_000, loopWaitMs: 2_000, retryTimeoutMs: 3_000 },
      // 2 s sleep + 3 s DCS call + 2 s to stop = 7 s: a 6 s lease would end mid-demotion.
      self: { leaseDeadlineMonoMs: MONO_NOW + 6_000 },
    }),
    expect: {
      action: 'demote',
      reason: 'demoted self because DCS is not accessible and I was a leader',
      fields: { mode: 'immediate', releaseLeader: false, leader: null, offline: true },
      notes: ['demoting self because DCS is not accessible and I was a leader'],
    },
  },
  {
    name: "demotes at the first failed cycle with Patroni's default timing",
    input: asLeader({ dcsOk: false, self: { leaseDeadlineMonoMs: MONO_NOW + 9_700 } }),
    expect: { action: 'demote', reason: 'demoted self because DCS is not accessible and I was a leader' },
  },
  {
    name: 'demotes a primary that never confirmed a lease in this process when the DCS is unreachable',
    input: asLeader({ dcsOk: false, view: null }),
    expect: { action: 'demote', reason: 'demoted self because DCS is not accessible and I was a leader' },
  },
  {
    name: 'keeps streaming as a replica while the DCS is unreachable',
    input: input({ dcsOk: false }),
    expect: { action: 'no-action', reason: 'DCS is not accessible' },
  },

  // --- replicas follow ---------------------------------------------------------------------------
  {
    name: 'follows the leader as a replica',
    input: input(),
    expect: {
      action: 'follow',
      reason: 'no action. I am (srv2), a secondary, and following a leader (srv1)',
      fields: { leader: 'srv1', repoint: false, checkDivergence: false },
    },
  },
  {
    name: 're-points to the new leader after a leader change',
    input: input({ view: view({ leaderName: 'srv3', members: [member('srv1'), member('srv3', { role: 'primary', timeline: 2 })] }) }),
    expect: {
      action: 'follow',
      reason: 'no action. I am (srv2), a secondary, and following a leader (srv3)',
      fields: { leader: 'srv3', repoint: true, checkDivergence: true },
      notes: ['changing primary_conninfo to follow srv3'],
    },
  },
  {
    name: 'streams from its replicatefrom member while that member runs',
    input: input({ config: { tags: { replicatefrom: 'srv3' } } }),
    expect: { action: 'follow', reason: 'no action. I am (srv2), a secondary, and following a leader (srv1)', fields: { leader: 'srv3', repoint: true } },
  },
  {
    name: 'demotes a primary that finds another member holding the key',
    input: input({ local: primary(), view: view({ leaderName: 'srv3' }) }),
    expect: { action: 'demote', reason: 'demoting self because I do not have the lock and I was a leader', fields: { mode: 'immediate', releaseLeader: false, leader: 'srv3' } },
  },

  // --- leader race -------------------------------------------------------------------------------
  {
    name: 'takes the free key when it is the healthiest replica',
    input: input({ view: view({ leaderName: null }), memberHealth: [health('srv1', { reachable: false }), health('srv3', { walLsn: PRIMARY_LSN - 100n })] }),
    expect: {
      action: 'acquire-and-promote',
      reason: 'promoted self to leader by acquiring session lock',
      fields: { promote: true, failoverVersion: null },
      ifLockLost: { action: 'follow', reason: 'following new leader after trying and failing to obtain lock' },
    },
  },
  {
    name: 'stays out of the race for a ttl after its pre_promote script failed (Patroni backoff)',
    input: input({ view: view({ leaderName: null }), self: { raceBackoffUntilMonoMs: MONO_NOW + 1 } }),
    expect: {
      action: 'follow',
      reason: 'following a different leader because i am not the healthiest node (backing off for 1 s after its pre_promote script failed)',
      notes: ['backoff: skip leader race after pre_promote script failure and releasing the lock voluntarily'],
    },
  },
  {
    name: 'races again once the pre_promote backoff has passed',
    input: input({ view: view({ leaderName: null }), self: { raceBackoffUntilMonoMs: MONO_NOW } }),
    expect: { action: 'acquire-and-promote', reason: 'promoted self to leader by acquiring session lock' },
  },
  {
    name: 'stays out of the race when a reachable peer is ahead',
    input: input({ view: view({ leaderName: null }), memberHealth: [health('srv3', { walLsn: PRIMARY_LSN + 1n })] }),
    expect: { action: 'follow', reason: 'following a different leader because i am not the healthiest node (srv3 is 1 bytes ahead)', notes: ['Wal position of srv3 is ahead of my wal position'] },
  },
  {
    name: 'stays out of the race when lagging more than maximum_lag_on_failover behind the last primary LSN',
    input: input({ view: view({ leaderName: null }), local: replica({ receivedLsn: PRIMARY_LSN - 2_000_000n, replayedLsn: PRIMARY_LSN - 2_000_000n }) }),
    expect: { action: 'follow', reason: 'following a different leader because i am not the healthiest node (lag 2000000 bytes exceeds maximum_lag_on_failover 1048576)', notes: ['My wal position exceeds maximum replication lag'] },
  },
  {
    name: 'races when behind the last primary LSN by no more than maximum_lag_on_failover',
    input: input({ view: view({ leaderName: null }), local: replica({ receivedLsn: PRIMARY_LSN - 1_048_576n, replayedLsn: PRIMARY_LSN - 2_000_000n }) }),
    expect: { action: 'acquire-and-promote', reason: 'promoted self to leader by acquiring session lock' },
  },
  {
    name: 'lets a peer with a higher failover_priority at the same LSN win',
    input: input({ view: view({ leaderName: null }), memberHealth: [health('srv3', { failoverPriority: 5 })] }),
    expect: { action: 'follow', reason: 'following a different leader because i am not the healthiest node (srv3 has the same WAL position and a higher failover_priority: 5 > 1)', notes: ['srv3 has equally tolerable WAL position and priority 5, while this node has priority 1'] },
  },
  {
    name: 'wins against a lower failover_priority peer at the same LSN',
    input: input({ view: view({ leaderName: null }), config: { tags: { failover_priority: 3 } }, memberHealth: [health('srv3', { failoverPriority: 2 })] }),
    expect: { action: 'acquire-and-promote', reason: 'promoted self to leader by acquiring session lock' },
  },
  {
    name: 'ignores unreachable, nofailover and watchdog-failed peers in the race',
    input: input({
      view: view({ leaderName: null, members: [member('srv1'), member('srv3'), member('srv4', { tags: { nofailover: true } }), member('srv5')] }),
      memberHealth: [
        health('srv1', { reachable: false, walLsn: PRIMARY_LSN + 9n }),
        health('srv3', { nofailover: true, walLsn: PRIMARY_LSN + 9n }),
        health('srv4', { walLsn: PRIMARY_LSN + 9n }),
        health('srv5', { watchdogFailed: true, walLsn: PRIMARY_LSN + 9n }),
      ],
    }),
    expect: { action: 'acquire-and-promote', reason: 'promoted self to leader by acquiring session lock' },
  },
  {
    name: 'never races when tagged nofailover',
    input: input({ view: view({ leaderName: null }), config: { tags: { nofailover: true } } }),
    expect: { action: 'follow', reason: 'following a different leader because I am not allowed to promote' },
  },
  {
    name: 'treats failover_priority 0 as nofailover',
    input: input({ view: view({ leaderName: null }), config: { tags: { failover_priority: 0 } } }),
    expect: { action: 'follow', reason: 'following a different leader because I am not allowed to promote' },
  },
  {
    name: 'does not race while the old primary still answers as a primary',
    input: input({ view: view({ leaderName: null }), memberHealth: [health('srv1', { role: 'primary' })] }),
    expect: { action: 'follow', reason: 'following a different leader because i am not the healthiest node (srv1 is still running as a primary)', notes: ['Primary (srv1) is still alive'] },
  },
  {
    name: 'takes the key back as a primary that lost it while nobody promoted',
    input: asLeader({ view: view({ leaderName: null }) }),
    expect: {
      action: 'acquire-and-promote',
      reason: 'acquired session lock as a leader',
      fields: { promote: false },
      ifLockLost: { action: 'demote', reason: 'demoted self after trying and failing to obtain lock' },
    },
  },
  {
    name: 'does not take the key back as a primary whose timeline is behind the cluster',
    input: asLeader({
      view: view({ leaderName: null, history: { lines: [{ timeline: 1, lsn: PRIMARY_LSN, reason: '', timestamp: null, newLeader: 'srv2' }], keyVersion: 3 } }),
    }),
    expect: { action: 'demote', reason: 'demoting self because i am not the healthiest node (timeline 1 is behind the cluster timeline 2)', notes: ['My timeline 1 is behind last known cluster timeline 2'] },
  },

  // --- switchover / failover ---------------------------------------------------------------------
  {
    name: 'hands over to a healthy candidate on a switchover request',
    input: asLeader({ view: view({ failover: failover({ leader: 'srv1', candidate: 'srv2' }) }), memberHealth: [health('srv2')] }),
    expect: {
      action: 'hand-over',
      reason: 'switchover: demoting myself',
      fields: { candidate: 'srv2', kind: 'switchover', notBeforeMs: null, failoverVersion: 77 },
      ifLockLost: { action: 'demote', reason: 'demoted self because failed to update leader lock in DCS' },
    },
  },
  {
    name: 'refuses a switchover to a lagging candidate and clears the request with the reason',
    input: asLeader({ view: view({ failover: failover({ leader: 'srv1', candidate: 'srv2' }) }), memberHealth: [health('srv2', { walLsn: PRIMARY_LSN - 5_000_000n })] }),
    expect: {
      action: 'renew',
      reason: 'no action. I am (srv1), the leader with the lock',
      fields: { clearFailover: 77 },
      notes: ['Member srv2 exceeds maximum replication lag', 'switchover: no healthy members found, switchover is not possible', 'Cleaning up failover key'],
    },
  },
  {
    name: 'refuses a switchover to an unreachable candidate',
    input: asLeader({ view: view({ failover: failover({ leader: 'srv1', candidate: 'srv2' }) }), memberHealth: [] }),
    expect: { action: 'renew', reason: 'no action. I am (srv1), the leader with the lock', fields: { clearFailover: 77 }, notes: ['Member srv2 is not reachable'] },
  },
  {
    name: 'refuses a switchover whose leader is not this member',
    input: asLeader({ view: view({ failover: failover({ leader: 'srv3', candidate: 'srv2' }) }), memberHealth: [health('srv2')] }),
    expect: { action: 'renew', reason: 'no action. I am (srv1), the leader with the lock', fields: { clearFailover: 77 }, notes: ['switchover: leader name does not match: srv3 != srv1'] },
  },
  {
    name: 'hands over to any healthy member on a failover request without a candidate',
    input: asLeader({ view: view({ failover: failover({}) }), memberHealth: [health('srv2', { reachable: false }), health('srv3')] }),
    expect: { action: 'hand-over', reason: 'manual failover: demoting myself', fields: { candidate: null, kind: 'failover' } },
  },
  {
    name: 'waits for a scheduled switchover until its time',
    input: asLeader({ view: view({ failover: failover({ leader: 'srv1', candidate: 'srv2', scheduledAt: scheduled(60_000) }) }), memberHealth: [health('srv2')] }),
    expect: { action: 'renew', reason: 'no action. I am (srv1), the leader with the lock', notes: [`Awaiting switchover at ${ISO_IN(60_000)} (in 60 seconds)`] },
  },
  {
    name: 'starts a scheduled switchover due within this loop',
    input: asLeader({ view: view({ failover: failover({ leader: 'srv1', candidate: 'srv2', scheduledAt: scheduled(4_000) }) }), memberHealth: [health('srv2')] }),
    expect: { action: 'hand-over', reason: 'switchover: demoting myself', fields: { notBeforeMs: WALL_NOW + 4_000 }, notes: ['Manual scheduled switchover at'] },
  },
  {
    name: 'cleans up a scheduled switchover that is long past',
    input: asLeader({ view: view({ failover: failover({ leader: 'srv1', candidate: 'srv2', scheduledAt: scheduled(-16_000) }) }), memberHealth: [health('srv2')] }),
    expect: { action: 'renew', reason: 'no action. I am (srv1), the leader with the lock', fields: { clearFailover: 77 }, notes: ['Found a stale switchover value, cleaning up'] },
  },
  {
    name: 'lets the switchover candidate take the key once the leader released it',
    input: input({ view: view({ leaderName: null, failover: failover({ leader: 'srv1', candidate: 'srv2' }) }), local: replica({ receivedLsn: PRIMARY_LSN - 5_000_000n }) }),
    expect: { action: 'acquire-and-promote', reason: 'promoted self to leader by acquiring session lock', fields: { promote: true, failoverVersion: 77 }, notes: ['Cleaning up failover key after acquiring leader lock...'] },
  },
  {
    name: 'leaves the race to a healthy switchover candidate',
    input: input({ config: { name: 'srv3' }, view: view({ leaderName: null, failover: failover({ leader: 'srv1', candidate: 'srv2' }) }), memberHealth: [health('srv2')] }),
    expect: { action: 'follow', reason: 'following a different leader because i am not the healthiest node (switchover requested: srv2 is the candidate)', notes: ['switchover: to srv2, i am srv3'] },
  },
  {
    name: 'races instead of an unhealthy switchover candidate, among all but the former leader',
    input: input({
      config: { name: 'srv3' },
      view: view({ leaderName: null, failover: failover({ leader: 'srv1', candidate: 'srv2' }) }),
      memberHealth: [health('srv1', { walLsn: PRIMARY_LSN + 100n }), health('srv2', { reachable: false })],
    }),
    expect: { action: 'acquire-and-promote', reason: 'promoted self to leader by acquiring session lock', notes: ['switchover: member srv2 is not reachable'] },
  },
  {
    name: 'lets the former leader race only when no other member can take over',
    input: asLeader({ local: replica({ receivingFrom: null }), view: view({ leaderName: null, failover: failover({ leader: 'srv1', candidate: 'srv2' }) }), memberHealth: [] }),
    expect: { action: 'acquire-and-promote', reason: 'promoted self to leader by acquiring session lock' },
  },

  // --- pause -------------------------------------------------------------------------------------
  {
    name: 'only reports on a paused replica whose leader is gone',
    input: input({ config: { pause: true }, view: view({ leaderName: null }) }),
    expect: { action: 'no-action', reason: 'PAUSE: no action. I am (srv2)' },
  },
  {
    name: 'keeps renewing the key in pause',
    input: asLeader({ config: { pause: true } }),
    expect: {
      action: 'renew',
      reason: 'PAUSE: no action. I am (srv1), the leader with the lock',
      ifLockLost: { action: 'no-action', reason: 'PAUSE: continue to run as primary after failing to update leader lock in DCS' },
    },
  },
  {
    name: 'does not demote a primary without the key in pause',
    input: input({ config: { pause: true }, local: primary() }),
    expect: { action: 'no-action', reason: 'PAUSE: continue to run as primary without lock' },
  },
  {
    name: 'does not start a stopped PostgreSQL in pause',
    input: input({ config: { pause: true }, local: replica({ role: 'stopped' }) }),
    expect: { action: 'no-action', reason: 'PAUSE: postgres is not running' },
  },
  {
    name: 'keeps a paused primary running when the DCS is unreachable',
    input: asLeader({ config: { pause: true }, dcsOk: false }),
    expect: { action: 'no-action', reason: 'PAUSE: DCS is not accessible' },
  },
  {
    name: 'lets a paused running primary take the free key of its own cluster',
    input: asLeader({ config: { pause: true }, view: view({ leaderName: null }) }),
    expect: { action: 'acquire-and-promote', reason: 'PAUSE: acquired session lock as a leader', fields: { promote: false } },
  },
  {
    name: 'promotes the named candidate of a manual failover in pause',
    input: input({ config: { pause: true }, view: view({ leaderName: null, failover: failover({ candidate: 'srv2' }) }) }),
    expect: { action: 'acquire-and-promote', reason: 'PAUSE: promoted self to leader by acquiring session lock', fields: { promote: true } },
  },
  {
    name: 'refuses a switchover without a candidate in pause',
    input: asLeader({ config: { pause: true }, view: view({ failover: failover({ leader: 'srv1' }) }), memberHealth: [health('srv2')] }),
    expect: { action: 'renew', reason: 'PAUSE: no action. I am (srv1), the leader with the lock', fields: { clearFailover: 77 }, notes: ['Switchover is possible only to a specific candidate in a paused state'] },
  },

  // --- crashed primary, starting -----------------------------------------------------------------
  {
    name: 'restarts a crashed primary in place while holding the key',
    input: asLeader({ local: primary({ role: 'crashed' }) }),
    expect: { action: 'restart-primary', reason: 'starting primary after failure', ifLockLost: { action: 'start-as-replica', reason: 'starting as a secondary' } },
  },
  {
    name: 'gives the key up after its start in place failed, reporting role demoted (Patroni\'s post_recover)',
    input: asLeader({ local: primary({ role: 'crashed' }), self: { primaryStartFailed: true } }),
    expect: { action: 'release-leader', reason: 'removed leader key after trying and failing to start postgres', fields: { demoted: true } },
  },
  {
    name: 'a failed start of a former primary that no longer holds the key starts it as a secondary',
    input: input({ local: primary({ role: 'crashed' }), self: { primaryStartFailed: true } }),
    expect: { action: 'start-as-replica', reason: 'starting as a secondary' },
  },
  {
    name: 'fails over instead of restarting a crashed primary when primary_start_timeout is 0',
    input: asLeader({ local: primary({ role: 'crashed' }), config: { primaryStartTimeoutMs: 0 }, memberHealth: [health('srv2')] }),
    expect: { action: 'demote', reason: 'stopped PostgreSQL to fail over after a crash', fields: { releaseLeader: true }, notes: ['Primary crashed. Failing over.'] },
  },
  {
    name: 'restarts in place with primary_start_timeout 0 when no replica could take over',
    input: asLeader({ local: primary({ role: 'crashed' }), config: { primaryStartTimeoutMs: 0 }, memberHealth: [] }),
    expect: { action: 'restart-primary', reason: 'starting primary after failure' },
  },
  {
    name: 'gives the key up when restarts in place have failed since the first attempt, primary_start_timeout ago (issue 17)',
    input: asLeader({ local: primary({ role: 'crashed' }), self: { startingSinceMonoMs: MONO_NOW - 300_000 }, memberHealth: [health('srv2')] }),
    expect: {
      action: 'demote',
      reason: 'released the leader key: the crashed primary could not be restarted in place within primary_start_timeout',
      fields: { releaseLeader: true, mode: 'immediate' },
      notes: ['Demoting self because PostgreSQL could not be restarted in place within primary_start_timeout (300 s)'],
    },
  },
  {
    name: 'keeps restarting in place after primary_start_timeout when no replica could take over',
    input: asLeader({ local: primary({ role: 'crashed' }), self: { startingSinceMonoMs: MONO_NOW - 300_000 }, memberHealth: [] }),
    expect: { action: 'restart-primary', reason: 'starting primary after failure' },
  },
  {
    name: 'restarts in place again while failed restarts are within primary_start_timeout',
    input: asLeader({ local: primary({ role: 'crashed' }), self: { startingSinceMonoMs: MONO_NOW - 299_000 }, memberHealth: [health('srv2')] }),
    expect: { action: 'restart-primary', reason: 'starting primary after failure' },
  },
  {
    name: 'reports the time left while the primary is starting',
    input: asLeader({ local: primary({ role: 'starting' }), self: { startingSinceMonoMs: MONO_NOW - 10_000 } }),
    expect: { action: 'renew', reason: 'PostgreSQL is still starting up, 290 seconds until timeout', ifLockLost: { action: 'stop', reason: 'stopped PostgreSQL while starting up because leader key was lost' } },
  },
  {
    name: 'stops a start that exceeds primary_start_timeout when a replica can take over',
    input: asLeader({ local: primary({ role: 'starting' }), self: { startingSinceMonoMs: MONO_NOW - 301_000 }, memberHealth: [health('srv3')] }),
    expect: { action: 'demote', reason: 'stopped PostgreSQL because of startup timeout', fields: { releaseLeader: true } },
  },
  {
    name: 'keeps waiting for a slow start when nobody could take over',
    input: asLeader({ local: primary({ role: 'starting' }), self: { startingSinceMonoMs: MONO_NOW - 301_000 } }),
    expect: { action: 'renew', reason: 'primary start has timed out, but continuing to wait because failover is not possible' },
  },
  {
    name: 'stops a primary start once another member holds the key',
    input: input({ local: primary({ role: 'starting' }), view: view({ leaderName: 'srv3' }) }),
    expect: { action: 'stop', reason: 'stopped PostgreSQL while starting up because leader key was lost', fields: { releaseLeader: false } },
  },
  {
    name: 'starts a stopped replica following the leader',
    input: input({ local: replica({ role: 'stopped' }) }),
    expect: { action: 'start-as-replica', reason: 'starting as a secondary', fields: { leader: 'srv1', checkDivergence: false } },
  },

  // --- old primary after failover ----------------------------------------------------------------
  {
    name: 'checks for divergence before starting the old primary as a replica of the new leader',
    input: input({ config: { name: 'srv1' }, local: primary({ role: 'stopped' }), view: view({ leaderName: 'srv2', members: [member('srv1'), member('srv2', { role: 'primary', timeline: 2 })] }) }),
    expect: { action: 'start-as-replica', reason: 'starting as a secondary', fields: { leader: 'srv2', checkDivergence: true } },
  },
  {
    name: 'rewinds a diverged old primary when use_pg_rewind is on',
    input: input({
      config: { name: 'srv1', usePgRewind: true },
      local: primary({ role: 'stopped' }),
      view: view({ leaderName: 'srv2' }),
      self: { divergence: { leader: 'srv2', diverged: true } },
    }),
    expect: { action: 'rewind', reason: 'running pg_rewind from srv2', fields: { leader: 'srv2' } },
  },
  {
    name: 'reports that a diverged old primary needs reinit when use_pg_rewind is off',
    input: input({ config: { name: 'srv1' }, local: primary({ role: 'stopped' }), view: view({ leaderName: 'srv2' }), self: { divergence: { leader: 'srv2', diverged: true } } }),
    expect: { action: 'reinit-needed', reason: 'timeline diverged from leader (srv2) and use_pg_rewind is off; reinitialize needed' },
  },
  {
    name: 'reports that a diverged member needs reinit when pg_rewind cannot work on its data',
    input: input({ config: { usePgRewind: true }, local: replica({ rewindCapable: false }), self: { divergence: { leader: 'srv1', diverged: true } } }),
    expect: { action: 'reinit-needed', reason: /pg_rewind is not possible/ },
  },
  {
    name: 'reinitializes a diverged member when remove_data_directory_on_diverged_timelines is set',
    input: input({ config: { removeDataDirectoryOnDivergedTimelines: true }, self: { divergence: { leader: 'srv1', diverged: true } } }),
    expect: { action: 'reinit', reason: 'reinitializing due to diverged timelines' },
  },
  {
    name: 'reinitializes after a failed rewind when remove_data_directory_on_rewind_failure is set',
    input: input({ config: { usePgRewind: true, removeDataDirectoryOnRewindFailure: true }, self: { divergence: { leader: 'srv1', diverged: true }, rewindFailed: true } }),
    expect: { action: 'reinit', reason: 'reinitializing after failed pg_rewind', notes: ['Failed to rewind from healthy primary: srv1'] },
  },
  {
    name: 'follows without another check once the member is known not to have diverged (and is on the leader\'s timeline)',
    input: input({ view: view({ members: [member('srv1', { role: 'primary', timeline: 2 })] }), local: replica({ timeline: 2 }), self: { divergence: { leader: 'srv1', diverged: false } } }),
    expect: { action: 'follow', reason: 'no action. I am (srv2), a secondary, and following a leader (srv1)', fields: { checkDivergence: false } },
  },
  {
    name: 'checks again while its timeline stays behind the leader\'s, whatever an earlier check said (a stream stuck before the fork)',
    input: input({ view: view({ members: [member('srv1', { role: 'primary', timeline: 3 })] }), local: replica({ timeline: 2 }), self: { divergence: { leader: 'srv1', diverged: false } } }),
    expect: { action: 'follow', reason: 'no action. I am (srv2), a secondary, and following a leader (srv1)', fields: { checkDivergence: true } },
  },

  // --- long actions ------------------------------------------------------------------------------
  {
    name: 'keeps renewing the key during a long action',
    input: asLeader({ self: { longAction: { name: 'restart', startedMonoMs: MONO_NOW - 5_000 } } }),
    expect: { action: 'renew', reason: 'updated leader lock during restart', ifLockLost: { action: 'demote', reason: 'lost leader lock during restart' } },
  },
  {
    name: 'cancels a promote after losing the key',
    input: input({ view: view({ leaderName: 'srv3' }), self: { longAction: { name: 'promote', startedMonoMs: MONO_NOW - 1_000 } } }),
    expect: { action: 'cancel-long-action', reason: 'lost leader before promote' },
  },
  {
    name: 'reports a long action in progress on a replica',
    input: input({ view: view({ leaderName: null }), self: { longAction: { name: 'clone', startedMonoMs: MONO_NOW } } }),
    expect: { action: 'no-action', reason: 'clone in progress', notes: ['not healthy enough for leader race'] },
  },
];

function matches(actual: string, expected: string | RegExp): boolean {
  return typeof expected === 'string' ? actual === expected : expected.test(actual);
}

function check(decision: Decision, expect: Expectation): void {
  const show = JSON.stringify(decision, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v), 2);
  assert.equal(decision.action, expect.action, show);
  assert.ok(matches(decision.reason, expect.reason), `reason ${JSON.stringify(decision.reason)} does not match ${expect.reason}\n${show}`);
  for (const [key, value] of Object.entries(expect.fields ?? {})) {
    assert.deepEqual((decision as unknown as Record<string, unknown>)[key], value, `field ${key}\n${show}`);
  }
  for (const note of expect.notes ?? []) {
    assert.ok(decision.notes.some((n) => n.message.includes(note)), `no note containing ${JSON.stringify(note)}\n${show}`);
  }
  if (expect.ifLockLost) {
    assert.ok('ifLockLost' in decision, `expected an ifLockLost alternative\n${show}`);
    check(decision.ifLockLost, { ...expect.ifLockLost, notes: [] });
  }
}

describe('decide', () => {
  for (const scenario of scenarios) {
    it(scenario.name, () => check(decide(scenario.input), scenario.expect));
  }

  it('asks for the other members’ health only when a race or a handover is possible', () => {
    assert.equal(needsMemberHealth(input()), false, 'a replica following a live leader');
    assert.equal(needsMemberHealth(input({ view: view({ leaderName: null }) })), true, 'the key is free');
    assert.equal(needsMemberHealth(asLeader()), false, 'a leader with nothing requested');
    assert.equal(needsMemberHealth(asLeader({ view: view({ failover: failover({ leader: 'srv1' }) }) })), true, 'a switchover request');
    assert.equal(needsMemberHealth(asLeader({ local: primary({ role: 'crashed' }) })), true, 'a crashed primary may fail over');
    assert.equal(needsMemberHealth(input({ dcsOk: false })), false);
    // The named candidate races without asking (the round trip was in the switchover's write gap); the others ask.
    const request = view({ leaderName: null, failover: failover({ leader: 'srv1', candidate: 'srv2' }) });
    assert.equal(needsMemberHealth(input({ view: request })), false, 'srv2, the requested candidate, a replica');
    assert.equal(decide(input({ view: request })).action, 'acquire-and-promote', 'and takes the key without the others\' health');
    assert.equal(needsMemberHealth(input({ view: request, config: { name: 'srv3' } })), true, 'srv3 checks that the candidate is healthy');
    assert.equal(needsMemberHealth(input({ view: request, local: replica({ role: 'stopped' }) })), true, 'a stopped candidate goes the normal way');
  });

  it('does not modify its input', () => {
    for (const scenario of scenarios) {
      const before = structuredClone(scenario.input);
      decide(scenario.input);
      assert.deepEqual(scenario.input, before, scenario.name);
    }
  });
});

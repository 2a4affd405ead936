/**
 * Synchronous mode as tables: the leader's plan (sync.ts), the setting's text (sync-names.ts) and
 * who may take over (sync-race.ts through decide()).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterView, SyncState } from '../../../src/dcs/index.js';
import { decide, type Decision } from '../../../src/agent/ha/index.js';
import { ackPositionColumn, planSync, prePromoteSync, quorumFor, syncSettingsFrom, type StandbyConnection, type SyncInput, type SyncSettings, type Watermark } from '../../../src/agent/ha/sync.js';
import { parseSyncNames, renderSyncNames, STRICT_PLACEHOLDER } from '../../../src/agent/ha/sync-names.js';
import { failover, health, input, member, PRIMARY_LSN, replica, view } from './fixtures.js';

const ON: SyncSettings = { mode: 'on', strict: false, nodeCount: 1, maxLagBytes: null };
const QUORUM: SyncSettings = { mode: 'quorum', strict: false, nodeCount: 1, maxLagBytes: null };
const LSN = 0x5000_0000n;

function conn(name: string, overrides: Partial<StandbyConnection> = {}): StandbyConnection {
  return { name, pid: name === 'srv2' ? 102 : 103, state: 'streaming', syncState: 'async', flushLsn: LSN, ...overrides };
}

function key(syncStandbys: string[], overrides: Partial<SyncState> = {}): SyncState {
  return { leader: 'srv1', syncStandbys, quorum: null, keyVersion: 9, ...overrides };
}

function plan(o: Partial<SyncInput> & { sync?: SyncState | null; members?: ClusterView['members'] } = {}) {
  const { sync = null, members, ...rest } = o;
  return planSync({
    me: 'srv1',
    settings: ON,
    view: view({ sync, ...(members ? { members } : {}) }),
    connections: [conn('srv2'), conn('srv3')],
    primaryLsn: LSN,
    currentSsn: '',
    ssnManaged: true,
    watermarks: new Map(),
    ...rest,
  });
}

describe('synchronous_standby_names text', () => {
  it('renders FIRST/ANY with quoted names and reads back every form PostgreSQL accepts', () => {
    assert.equal(renderSyncNames({ method: 'first', num: 1, names: ['srv2'] }), 'FIRST 1 ("srv2")');
    assert.equal(renderSyncNames({ method: 'any', num: 1, names: ['a"b', 'c'] }), 'ANY 1 ("a""b","c")');
    assert.equal(renderSyncNames({ method: 'first', num: 0, names: [] }), '');
    assert.deepEqual(parseSyncNames('ANY 1 ("a""b","c")'), { method: 'any', num: 1, names: ['a"b', 'c'] });
    assert.deepEqual(parseSyncNames('2 (a, b, c)'), { method: 'first', num: 2, names: ['a', 'b', 'c'] });
    assert.deepEqual(parseSyncNames('a, b'), { method: 'first', num: 1, names: ['a', 'b'] });
    assert.deepEqual(parseSyncNames('*'), { method: 'first', num: 1, names: ['*'] });
    assert.deepEqual(parseSyncNames(''), { method: 'first', num: 0, names: [] });
    assert.equal(parseSyncNames('FIRST (a)'), null);
  });

  it('reads the dynamic keys: true/quorum, strict only with a mode, -1 = no lag limit', () => {
    const base = { synchronous_mode_strict: true, synchronous_node_count: 2, maximum_lag_on_syncnode: -1 };
    assert.deepEqual(syncSettingsFrom({ ...base, synchronous_mode: false }), { mode: 'off', strict: false, nodeCount: 2, maxLagBytes: null });
    assert.deepEqual(syncSettingsFrom({ ...base, synchronous_mode: 'quorum', maximum_lag_on_syncnode: 1000 }), { mode: 'quorum', strict: true, nodeCount: 2, maxLagBytes: 1000n });
  });
});

describe('the leader plans synchronous replication', () => {
  it('lists the best streaming standby in the setting first, and in the key only once it is synchronous and caught up', () => {
    const first = plan();
    assert.deepEqual(first.steps, [
      { kind: 'write-key', state: { leader: 'srv1', syncStandbys: [], quorum: null }, ifVersion: 0 },
      { kind: 'set-ssn', value: 'FIRST 1 ("srv2")' },
    ]);
    assert.ok(first.notes.some((n) => n.message === 'Enabled synchronous replication'));

    // Next cycle: PostgreSQL reports srv2 synchronous; its watermark is the position read now.
    const second = plan({ sync: key([]), currentSsn: 'FIRST 1 ("srv2")', connections: [conn('srv2', { syncState: 'sync', flushLsn: LSN - 100n }), conn('srv3')] });
    assert.deepEqual(second.steps, [], 'not caught up with its watermark yet');
    assert.deepEqual(second.watermarks.get('srv2'), { pid: 102, sinceLsn: LSN });

    const third = plan({ sync: key([]), currentSsn: 'FIRST 1 ("srv2")', primaryLsn: LSN + 500n, watermarks: second.watermarks, connections: [conn('srv2', { syncState: 'sync', flushLsn: LSN + 10n }), conn('srv3')] });
    assert.deepEqual(third.steps, [{ kind: 'write-key', state: { leader: 'srv1', syncStandbys: ['srv2'], quorum: null }, ifVersion: 9 }]);
    assert.ok(third.notes.some((n) => n.message === "Synchronous standby status assigned to ['srv2']"));
  });

  it('a reconnected walsender (new pid) starts a new watermark', () => {
    const marks = new Map<string, Watermark>([['srv2', { pid: 55, sinceLsn: LSN - 1000n }]]);
    const p = plan({ sync: key([]), currentSsn: 'FIRST 1 ("srv2")', watermarks: marks, primaryLsn: LSN + 10n, connections: [conn('srv2', { syncState: 'sync', flushLsn: LSN })] });
    assert.deepEqual(p.ready, []);
    assert.deepEqual(p.watermarks.get('srv2'), { pid: 102, sinceLsn: LSN + 10n });
  });

  it('replaces a stopped synchronous standby: the key drops it BEFORE the setting names the other one', () => {
    const p = plan({ sync: key(['srv2']), currentSsn: 'FIRST 1 ("srv2")', connections: [conn('srv3')] });
    assert.deepEqual(p.steps, [
      { kind: 'write-key', state: { leader: 'srv1', syncStandbys: [], quorum: null }, ifVersion: 9 },
      { kind: 'set-ssn', value: 'FIRST 1 ("srv3")' },
    ]);
    assert.ok(p.notes.some((n) => n.message === "Updating /sync key temporarily from ['srv2'] to []"));
  });

  it('replaces a synchronous standby lagging beyond maximum_lag_on_syncnode by a healthier one, and keeps it when there is none', () => {
    const settings = { ...ON, maxLagBytes: 1000n };
    const connections = [conn('srv2', { syncState: 'sync', flushLsn: LSN - 5000n }), conn('srv3', { flushLsn: LSN })];
    const swap = plan({ settings, sync: key(['srv2']), currentSsn: 'FIRST 1 ("srv2")', connections, watermarks: new Map([['srv2', { pid: 102, sinceLsn: 0n }]]) });
    assert.deepEqual(swap.picked, ['srv3']);
    assert.equal(swap.steps[0]!.kind, 'write-key');
    assert.deepEqual((swap.steps[0] as { state: { syncStandbys: string[] } }).state.syncStandbys, []);
    assert.ok(swap.notes.some((n) => /Replacing synchronous standby srv2: 5000 bytes behind/.test(n.message)));

    const alone = plan({ settings, sync: key(['srv2']), currentSsn: 'FIRST 1 ("srv2")', connections: [connections[0]!], watermarks: new Map([['srv2', { pid: 102, sinceLsn: 0n }]]) });
    assert.deepEqual(alone.steps, [], 'no healthier standby: the lagging one stays synchronous');
  });

  it('respects nosync, sync_priority <= 0 and prefers a higher sync_priority', () => {
    const members = [member('srv1', { role: 'primary' }), member('srv2', { tags: { nosync: true } }), member('srv3', { tags: { sync_priority: 0 } }), member('srv4', { tags: { sync_priority: 1 } }), member('srv5', { tags: { sync_priority: 5 } })];
    const connections = ['srv2', 'srv3', 'srv4', 'srv5'].map((n, i) => conn(n, { pid: 200 + i }));
    const p = plan({ members, connections, settings: { ...ON, nodeCount: 2 } });
    assert.deepEqual(p.picked, ['srv5', 'srv4']);
    assert.equal((p.steps.at(-1) as { value: string }).value, 'FIRST 2 ("srv5","srv4")');
    const none = plan({ members: members.slice(0, 3), connections: connections.slice(0, 2) });
    assert.deepEqual(none.picked, []);
  });

  it('does not churn: a current synchronous standby keeps its place over an equally good one', () => {
    const p = plan({ sync: key(['srv3']), currentSsn: 'FIRST 1 ("srv3")', connections: [conn('srv2', { flushLsn: LSN }), conn('srv3', { syncState: 'sync', flushLsn: LSN })], watermarks: new Map([['srv3', { pid: 103, sinceLsn: 0n }]]) });
    assert.deepEqual(p.picked, ['srv3']);
    assert.deepEqual(p.steps, []);
  });

  it('runs asynchronously without standbys (non-strict): key {leader, []} first, then an empty setting', () => {
    const p = plan({ sync: key(['srv2']), currentSsn: 'FIRST 1 ("srv2")', connections: [] });
    assert.deepEqual(p.steps, [
      { kind: 'write-key', state: { leader: 'srv1', syncStandbys: [], quorum: null }, ifVersion: 9 },
      { kind: 'set-ssn', value: '' },
    ]);
  });

  it('strict mode without standbys and an empty key keeps writes waiting on the placeholder and says why', () => {
    const p = plan({ settings: { ...ON, strict: true }, sync: key([]), currentSsn: '', connections: [] });
    assert.deepEqual(p.steps, [{ kind: 'set-ssn', value: `FIRST 1 ("${STRICT_PLACEHOLDER}")` }]);
    assert.ok(p.notes.some((n) => n.level === 'warning' && /synchronous_mode_strict is requested: writes wait until a synchronous standby connects \(Patroni's placeholder/.test(n.message)));
    const q = plan({ settings: { ...QUORUM, strict: true }, connections: [] });
    assert.equal((q.steps.at(-1) as { value: string }).value, `ANY 1 ("${STRICT_PLACEHOLDER}")`);
    // A key written by another leader promises nothing about our commits: the placeholder, and the key made ours and empty.
    const foreign = plan({ settings: { ...ON, strict: true }, sync: key(['srv2'], { leader: 'srv9' }), currentSsn: '', connections: [] });
    assert.deepEqual(foreign.steps, [
      { kind: 'write-key', state: { leader: 'srv1', syncStandbys: [], quorum: null }, ifVersion: 9 },
      { kind: 'set-ssn', value: `FIRST 1 ("${STRICT_PLACEHOLDER}")` },
    ]);
    // A standby returns: it is named in the setting (writes resume once it confirms), the key follows later.
    const back = plan({ settings: { ...ON, strict: true }, sync: key([]), currentSsn: `FIRST 1 ("${STRICT_PLACEHOLDER}")`, connections: [conn('srv2')] });
    assert.deepEqual(back.steps, [{ kind: 'set-ssn', value: 'FIRST 1 ("srv2")' }]);
  });

  it('strict mode without a candidate keeps the standbys the key lists, in the key and in the setting (Patroni 4)', () => {
    const strict = { ...ON, strict: true };
    // The synchronous standby stops: nothing changes, commits wait for it, the warning names the setting.
    const gone = plan({ settings: strict, sync: key(['srv2']), currentSsn: 'FIRST 1 ("srv2")', connections: [] });
    assert.deepEqual(gone.steps, []);
    assert.ok(gone.notes.some((n) => n.level === 'warning' && n.message.includes('synchronous_standby_names keeps FIRST 1 ("srv2"), the standbys the sync key lists')));
    // Only a nosync member streams: it is no candidate, the kept standby stays.
    const nosync = plan({ settings: strict, sync: key(['srv2']), currentSsn: 'FIRST 1 ("srv2")', connections: [conn('srv3')], members: [member('srv1'), member('srv2'), member('srv3', { tags: { nosync: true } })] });
    assert.deepEqual(nosync.steps, []);
    // Two listed, the setting differs (a promotion's placeholder, say): the setting waits for both, the key stays.
    const two = plan({ settings: strict, sync: key(['srv2', 'srv3']), currentSsn: `FIRST 1 ("${STRICT_PLACEHOLDER}")`, connections: [] });
    assert.deepEqual(two.steps, [{ kind: 'set-ssn', value: 'FIRST 2 ("srv2","srv3")' }]);
    // Quorum: ANY |standbys| − quorum, the key's promise unchanged.
    const quorum = plan({ settings: { ...QUORUM, strict: true }, sync: key(['srv2', 'srv3'], { quorum: 1 }), currentSsn: '', connections: [] });
    assert.deepEqual(quorum.steps, [{ kind: 'set-ssn', value: 'ANY 1 ("srv2","srv3")' }]);
    // A quorum left in the key in `on` mode: ANY as well (FIRST 1 of two would let the key overstate).
    const onWithQuorum = plan({ settings: strict, sync: key(['srv2', 'srv3'], { quorum: 1 }), currentSsn: '', connections: [] });
    assert.deepEqual(onWithQuorum.steps, [{ kind: 'set-ssn', value: 'ANY 1 ("srv2","srv3")' }]);
    // Another candidate connects: the key drops the kept standby BEFORE the setting names the newcomer.
    const other = plan({ settings: strict, sync: key(['srv2']), currentSsn: 'FIRST 1 ("srv2")', connections: [conn('srv3')] });
    assert.deepEqual(other.steps, [
      { kind: 'write-key', state: { leader: 'srv1', syncStandbys: [], quorum: null }, ifVersion: 9 },
      { kind: 'set-ssn', value: 'FIRST 1 ("srv3")' },
    ]);
    // Not strict: the same loss runs asynchronously (the key first).
    assert.deepEqual(plan({ sync: key(['srv2']), currentSsn: 'FIRST 1 ("srv2")', connections: [] }).steps.map((st) => st.kind), ['write-key', 'set-ssn']);
  });

  it('quorum mode: ANY k over every candidate, the key carries |standbys| − k', () => {
    const first = plan({ settings: QUORUM });
    assert.deepEqual(first.steps.at(-1), { kind: 'set-ssn', value: 'ANY 1 ("srv2","srv3")' });
    const ready = plan({
      settings: QUORUM,
      sync: key([], { quorum: 0 }),
      currentSsn: 'ANY 1 ("srv2","srv3")',
      connections: [conn('srv2', { syncState: 'quorum' }), conn('srv3', { syncState: 'quorum' })],
      watermarks: new Map([['srv2', { pid: 102, sinceLsn: 0n }], ['srv3', { pid: 103, sinceLsn: 0n }]]),
    });
    assert.deepEqual(ready.steps, [{ kind: 'write-key', state: { leader: 'srv1', syncStandbys: ['srv2', 'srv3'], quorum: 1 }, ifVersion: 9 }]);
    // Only one of two listed is ready: it alone guarantees nothing (quorum 1 with one member).
    assert.equal(quorumFor(['srv2'], { method: 'any', num: 1, names: ['srv2', 'srv3'] }), 1);
    assert.equal(quorumFor(['srv2', 'srv3'], { method: 'any', num: 2, names: ['srv2', 'srv3'] }), 0);
  });

  it('turning the mode off deletes our key and resets the setting it wrote, not a hand-set one', () => {
    const off = plan({ settings: { ...ON, mode: 'off' }, sync: key(['srv2']), currentSsn: 'FIRST 1 ("srv2")' });
    assert.deepEqual(off.steps, [{ kind: 'delete-key', ifVersion: 9 }, { kind: 'set-ssn', value: '' }]);
    const handSet = plan({ settings: { ...ON, mode: 'off' }, currentSsn: 'a', ssnManaged: false });
    assert.deepEqual(handSet.steps, []);
  });

  it('takes the key over before a promotion, the setting empty (strict and no former key: the placeholder)', () => {
    assert.deepEqual(prePromoteSync('srv2', ON, view({ sync: key(['srv2']) })), { key: { leader: 'srv2', syncStandbys: [], quorum: null }, ifVersion: 9, ssn: '' });
    assert.equal(prePromoteSync('srv2', { ...QUORUM, strict: true }, null).ssn, `ANY 1 ("${STRICT_PLACEHOLDER}")`);
    assert.deepEqual(prePromoteSync('srv2', { ...ON, strict: true }, view({ sync: null })), { key: { leader: 'srv2', syncStandbys: [], quorum: null }, ifVersion: 0, ssn: `FIRST 1 ("${STRICT_PLACEHOLDER}")` });
    assert.equal(prePromoteSync('srv2', { ...ON, mode: 'off' }, null).key, null);
  });

  it('strict: a promotion keeps the former leader and the other standbys in the key and the setting (Patroni 4), never more', () => {
    const strict = { ...ON, strict: true };
    // The scenario of basic_replication: the former leader is the only one left to wait for.
    assert.deepEqual(prePromoteSync('srv2', strict, view({ sync: key(['srv2']) })), { key: { leader: 'srv2', syncStandbys: ['srv1'], quorum: null }, ifVersion: 9, ssn: 'FIRST 1 ("srv1")' });
    // Multi sync: everybody else of the former key, all waited for; names match case-insensitively.
    assert.deepEqual(prePromoteSync('SRV2', strict, view({ sync: key(['srv2', 'srv3']) })), { key: { leader: 'SRV2', syncStandbys: ['srv1', 'srv3'], quorum: null }, ifVersion: 9, ssn: 'FIRST 2 ("srv1","srv3")' });
    // Quorum: the former quorum carries over (each old commit is on the former leader and on |standbys| − quorum of them).
    assert.deepEqual(prePromoteSync('srv2', { ...QUORUM, strict: true }, view({ sync: key(['srv2', 'srv3', 'srv4'], { quorum: 1 }) })), {
      key: { leader: 'srv2', syncStandbys: ['srv1', 'srv3', 'srv4'], quorum: 1 },
      ifVersion: 9,
      ssn: 'ANY 2 ("srv1","srv3","srv4")',
    });
    // The former leader taking its key back: the same standbys.
    assert.deepEqual(prePromoteSync('srv1', strict, view({ sync: key(['srv2']) })).key, { leader: 'srv1', syncStandbys: ['srv2'], quorum: null });
  });
});

describe('who may take over in synchronous mode', () => {
  const unlocked = (sync: SyncState | null, extra: Partial<ClusterView> = {}) => view({ leaderName: null, sync, ...extra });
  const race = (name: string, sync: SyncState | null, o: { mode?: 'on' | 'quorum' | 'off'; lsn?: bigint; health?: ReturnType<typeof health>[]; extra?: Partial<ClusterView> } = {}): Decision =>
    decide(
      input({
        view: unlocked(sync, o.extra),
        local: replica({ receivedLsn: o.lsn ?? PRIMARY_LSN, replayedLsn: o.lsn ?? PRIMARY_LSN }),
        config: { name, synchronousMode: o.mode ?? 'on' },
        memberHealth: o.health ?? ['srv1', 'srv2', 'srv3'].filter((n) => n !== name).map((n) => health(n, n === 'srv1' ? { reachable: false } : {})),
      }),
    );

  it('refuses a member that is not a synchronous standby even when it is the furthest ahead, with the reason', () => {
    const d = race('srv3', key(['srv2']), { lsn: PRIMARY_LSN + 100n });
    assert.equal(d.action, 'follow');
    assert.equal(d.reason, 'following a different leader because i am not the healthiest node (not a synchronous standby in synchronous mode; sync key: leader srv1, synchronous standbys [srv2])');
    assert.ok(d.notes.some((n) => /srv3 is not a synchronous standby in synchronous mode \(sync key: leader srv1, synchronous standbys \[srv2\]\)/.test(n.message)));
  });

  it('promotes the synchronous standby, and lets the former leader take its key back', () => {
    assert.equal(race('srv2', key(['srv2'])).action, 'acquire-and-promote');
    assert.equal(race('srv1', key(['srv2'])).action, 'acquire-and-promote');
  });

  it("after a strict promotion only the former key's members may take over: the new leader and what it kept", () => {
    const promoted = prePromoteSync('srv2', { ...ON, strict: true }, view({ sync: key(['srv2']) })).key!;
    const after = key(promoted.syncStandbys, { leader: promoted.leader, quorum: promoted.quorum });
    const others = (name: string) => ['srv1', 'srv2', 'srv3'].filter((n) => n !== name).map((n) => health(n, n === 'srv2' ? { reachable: false } : {}));
    assert.equal(race('srv3', after, { lsn: PRIMARY_LSN + 100n, health: others('srv3') }).action, 'follow');
    assert.equal(race('srv1', after, { health: others('srv1') }).action, 'acquire-and-promote');
  });

  it('does not restrict anybody when the mode is off or no leader wrote the key yet', () => {
    assert.equal(race('srv3', key(['srv2']), { mode: 'off' }).action, 'acquire-and-promote');
    assert.equal(race('srv3', null).action, 'acquire-and-promote');
  });

  it('quorum: a listed standby needs `quorum` other listed standbys answering and not ahead of it', () => {
    const sync = key(['srv2', 'srv3'], { quorum: 1 });
    const down = race('srv2', sync, { mode: 'quorum', health: [health('srv1', { reachable: false }), health('srv3', { reachable: false })] });
    assert.equal(down.action, 'follow');
    assert.ok(down.notes.some((n) => n.message.startsWith('Quorum requirement 1 can not be reached: 0 vote(s)')));
    const up = race('srv2', sync, { mode: 'quorum' });
    assert.equal(up.action, 'acquire-and-promote');
    assert.ok(up.notes.some((n) => n.message === 'Got quorum vote from srv3'));
  });

  it('the leader refuses a switchover to a member that is not synchronous', () => {
    const d = decide(
      input({
        view: view({ sync: key(['srv2']), failover: failover({ leader: 'srv1', candidate: 'srv3' }) }),
        local: replica({ role: 'primary', writeLsn: PRIMARY_LSN, receivedLsn: null, replayedLsn: null, receivingFrom: null, wasPrimary: true }),
        config: { name: 'srv1', synchronousMode: 'on' },
        memberHealth: [health('srv2'), health('srv3')],
      }),
    );
    assert.equal(d.action, 'renew');
    assert.ok(d.notes.some((n) => n.message === 'switchover: candidates list is empty'));
    assert.equal(d.clearFailover, 77);
  });
});

describe('the position a synchronous standby is measured on (Patroni: sort_col by synchronous_commit)', () => {
  it('is replay_lsn under remote_apply, write_lsn under remote_write, flush_lsn otherwise', () => {
    assert.deepEqual(
      ['remote_apply', 'remote_write', 'on', 'local', 'off'].map(ackPositionColumn),
      ['replay_lsn', 'write_lsn', 'flush_lsn', 'flush_lsn', 'flush_lsn'],
    );
  });
});

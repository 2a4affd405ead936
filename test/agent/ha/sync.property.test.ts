/**
 * Synchronous mode against a model of PostgreSQL's synchronous replication, over many seeded random
 * runs: commits, standbys flushing, disconnecting and reconnecting, the leader planning
 * (sync.ts) and carrying out its steps, mode switches between `on` and `quorum`. After every event:
 * - every acknowledged commit is on enough of the standbys the `sync` key lists (all of them, or
 *   |standbys| − quorum);
 * - if the leader died now, any standby decide() lets take over holds every acknowledged commit.
 * And a promotion in strict mode (Patroni 4 keeps the former key's members): from any former key
 * whose promise holds, the new key lists no member the former one did not (besides the new leader),
 * still holds its promise, the new primary acknowledges nothing its kept standbys do not have, and
 * whoever may take over from it holds every acknowledged commit.
 * A failure prints the seed; rerun with HACTL_SYNC_SEED=<seed> (HACTL_SYNC_CASES=<n> for more runs).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterView, SyncState } from '../../../src/dcs/index.js';
import { decide } from '../../../src/agent/ha/index.js';
import { planSync, prePromoteSync, type StandbyConnection, type SyncSettings, type Watermark } from '../../../src/agent/ha/sync.js';
import { includesName, parseSyncNames } from '../../../src/agent/ha/sync-names.js';
import { health, input, member, replica, view } from './fixtures.js';
import { mulberry32 as rng } from '../../helpers/prng.js';


interface Standby {
  name: string;
  connected: boolean;
  streaming: boolean;
  pid: number;
  /** Durable: survives disconnects, never goes back. */
  flush: bigint;
}

const STANDBYS = ['srv2', 'srv3', 'srv4'];

/** PostgreSQL's view of each walsender under the setting (syncrep.c: FIRST by list order, ANY all). */
function syncStates(ssn: string, standbys: readonly Standby[]): Map<string, string> {
  const parsed = parseSyncNames(ssn) ?? { method: 'first' as const, num: 0, names: [] };
  const out = new Map<string, string>();
  const listed = standbys.filter((s) => s.connected && s.streaming && includesName(parsed.names, s.name));
  if (parsed.method === 'any') {
    for (const s of listed) out.set(s.name, 'quorum');
  } else {
    const ordered = [...listed].sort((a, b) => parsed.names.indexOf(a.name) - parsed.names.indexOf(b.name));
    ordered.forEach((s, i) => out.set(s.name, i < parsed.num ? 'sync' : 'potential'));
  }
  return out;
}

/** Whether a commit at `lsn` is acknowledged under the setting now. */
function acknowledged(lsn: bigint, ssn: string, standbys: readonly Standby[]): boolean {
  const parsed = parseSyncNames(ssn) ?? { method: 'first' as const, num: 0, names: [] };
  if (parsed.num === 0) return true;
  const states = syncStates(ssn, standbys);
  if (parsed.method === 'any') return standbys.filter((s) => states.get(s.name) === 'quorum' && s.flush >= lsn).length >= parsed.num;
  const sync = standbys.filter((s) => states.get(s.name) === 'sync');
  return sync.length >= parsed.num && sync.every((s) => s.flush >= lsn);
}

function runCase(seed: number): void {
  const random = rng(seed);
  const chance = (p: number) => random() < p;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  let settings: SyncSettings = {
    mode: pick(['on', 'quorum'] as const),
    strict: chance(0.5),
    nodeCount: pick([1, 1, 2]),
    maxLagBytes: chance(0.3) ? 500n : null,
  };
  const tags = new Map(STANDBYS.map((n) => [n, pick([{}, {}, {}, { nosync: true }, { sync_priority: 2 }, { sync_priority: 0 }])]));
  const members = [member('srv1', { role: 'primary' }), ...STANDBYS.map((n) => member(n, { tags: tags.get(n) }))];
  const standbys: Standby[] = STANDBYS.map((name, i) => ({ name, connected: true, streaming: true, pid: 100 + i, flush: 0n }));
  let nextPid = 200;
  let lsn = 0n;
  let ssn = '';
  let sync: SyncState | null = null;
  let version = 0;
  let watermarks: ReadonlyMap<string, Watermark> = new Map();
  let pending: bigint[] = [];
  const acked: bigint[] = [];
  const trace: string[] = [];

  const fail = (what: string) => assert.fail(`seed ${seed}: ${what}\nsettings ${JSON.stringify({ ...settings, maxLagBytes: String(settings.maxLagBytes) })}\n${trace.slice(-25).join('\n')}`);

  for (let step = 0; step < 300; step++) {
    const s = pick(standbys);
    const r = random();
    if (r < 0.3) {
      lsn += BigInt(1 + Math.floor(random() * 300));
      pending.push(lsn);
      trace.push(`commit ${lsn}`);
    } else if (r < 0.55) {
      if (s.connected) s.flush = s.flush + BigInt(Math.floor(random() * 400)) > lsn ? lsn : s.flush + BigInt(Math.floor(random() * 400));
      if (s.connected && chance(0.3)) s.flush = lsn;
    } else if (r < 0.6) {
      s.connected = false;
      s.streaming = false;
      trace.push(`${s.name} disconnects`);
    } else if (r < 0.66) {
      if (!s.connected) {
        s.connected = true;
        s.streaming = chance(0.5);
        s.pid = nextPid++;
        trace.push(`${s.name} reconnects pid ${s.pid} streaming=${s.streaming}`);
      } else if (!s.streaming) {
        s.streaming = true;
        trace.push(`${s.name} streaming`);
      }
    } else if (r < 0.68) {
      settings = { ...settings, mode: settings.mode === 'on' ? 'quorum' : 'on' };
      trace.push(`mode ${settings.mode}`);
    } else {
      // A leader cycle: read walsenders, then the position; plan; act in order.
      const connections: StandbyConnection[] = [];
      const states = syncStates(ssn, standbys);
      for (const x of standbys) {
        if (x.connected) connections.push({ name: x.name, pid: x.pid, state: x.streaming ? 'streaming' : 'catchup', syncState: states.get(x.name) ?? 'async', flushLsn: x.flush });
      }
      const v: ClusterView = view({ members, sync });
      const plan = planSync({ me: 'srv1', settings, view: v, connections, primaryLsn: lsn, currentSsn: ssn, ssnManaged: true, watermarks });
      watermarks = plan.watermarks;
      for (const st of plan.steps) {
        if (st.kind === 'write-key') {
          sync = { ...st.state, keyVersion: ++version };
          trace.push(`key ${JSON.stringify(st.state)}`);
        } else if (st.kind === 'set-ssn') {
          ssn = st.value;
          watermarks = new Map();
          trace.push(`ssn ${ssn}`);
        }
      }
    }
    const still: bigint[] = [];
    for (const c of pending) (acknowledged(c, ssn, standbys) ? acked : still).push(c);
    pending = still;

    // The key's promise.
    const maxAcked = acked.reduce((m, c) => (c > m ? c : m), 0n);
    if (sync && sync.leader === 'srv1' && maxAcked > 0n) {
      const holders = sync.syncStandbys.filter((n) => standbys.find((x) => x.name === n)!.flush >= maxAcked).length;
      const needed = sync.syncStandbys.length - (sync.quorum ?? 0);
      if (holders < needed) fail(`ack ${maxAcked} is on ${holders} of ${sync.syncStandbys.join(',')} (quorum ${sync.quorum})`);
    }
    // The leader dies now: whoever decide() lets race must hold every acknowledged commit.
    // (Before the leader first wrote the key nothing is promised, as in Patroni: the mode was just turned on.)
    if (step % 7 === 0 && maxAcked > 0n && sync !== null) {
      for (const me of STANDBYS) {
        const mine = standbys.find((x) => x.name === me)!;
        const d = decide(
          input({
            view: view({ leaderName: null, members, sync, status: { lastLsn: null, slots: {}, retainSlots: [] } }),
            local: replica({ receivedLsn: mine.flush, replayedLsn: mine.flush }),
            config: { name: me, tags: tags.get(me), synchronousMode: settings.mode, maximumLagOnFailoverBytes: 1n << 40n },
            memberHealth: [health('srv1', { reachable: false }), ...standbys.filter((x) => x.name !== me).map((x) => health(x.name, { reachable: chance(0.6), walLsn: x.flush }))],
          }),
        );
        if (d.action === 'acquire-and-promote' && mine.flush < maxAcked) fail(`${me} at ${mine.flush} may take over but ${maxAcked} was acknowledged (key ${JSON.stringify(sync)})`);
      }
    }
  }
}

const NODES = ['srv1', 'srv2', 'srv3', 'srv4'];

function runPromotionCase(seed: number): void {
  const random = rng(seed);
  const chance = (p: number) => random() < p;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const settings: SyncSettings = { mode: pick(['on', 'quorum'] as const), strict: true, nodeCount: 1, maxLagBytes: null };
  const formerLeader = pick(NODES);
  const listed = NODES.filter((n) => n !== formerLeader && chance(0.6));
  const formerQuorum = listed.length > 0 && (settings.mode === 'quorum' || chance(0.2)) ? Math.floor(random() * listed.length) : null;
  const former: SyncState = { leader: formerLeader, syncStandbys: listed, quorum: formerQuorum, keyVersion: 5 };
  // Every acknowledged commit (up to ACKED) is on the former leader and on |standbys| − quorum of them.
  const ACKED = 1000n;
  const holders = new Set([formerLeader, ...[...listed].sort(() => random() - 0.5).slice(0, listed.length - (formerQuorum ?? 0))]);
  const flush = new Map(NODES.map((n) => [n, holders.has(n) ? ACKED + BigInt(Math.floor(random() * 50)) : BigInt(Math.floor(random() * 1100))]));
  const members = NODES.map((n) => member(n));
  const reachable = new Map(NODES.map((n) => [n, chance(0.7)]));
  const ctx = `seed ${seed}: mode ${settings.mode}, former key ${JSON.stringify(former)}, flush ${JSON.stringify([...flush].map(([n, f]) => `${n}=${f}`))}`;
  const mayRace = (me: string, sync: SyncState, dead: string): boolean =>
    decide(
      input({
        view: view({ leaderName: null, members, sync, status: { lastLsn: null, slots: {}, retainSlots: [] } }),
        local: replica({ receivedLsn: flush.get(me)!, replayedLsn: flush.get(me)! }),
        config: { name: me, synchronousMode: settings.mode, maximumLagOnFailoverBytes: 1n << 40n },
        memberHealth: NODES.filter((n) => n !== me).map((n) => health(n, { reachable: n !== dead && reachable.get(n)!, walLsn: flush.get(n)! })),
      }),
    ).action === 'acquire-and-promote';

  for (const promoted of NODES.filter((n) => mayRace(n, former, formerLeader))) {
    if (flush.get(promoted)! < ACKED) assert.fail(`${ctx}: ${promoted} may take over without commit ${ACKED}`);
    const plan = prePromoteSync(promoted, settings, view({ members, sync: former }));
    const key = plan.key!;
    const where = `${ctx}, ${promoted} promoted: key ${JSON.stringify(key)}, setting ${plan.ssn}`;
    if (key.syncStandbys.some((n) => !includesName([formerLeader, ...listed], n)) || includesName(key.syncStandbys, promoted)) assert.fail(`${where}: the key was widened`);
    const kept = key.syncStandbys.filter((n) => flush.get(n)! >= ACKED).length;
    if (kept < key.syncStandbys.length - (key.quorum ?? 0)) assert.fail(`${where}: commit ${ACKED} is on ${kept} of the kept standbys`);
    // A commit on the new primary: never acknowledged without a standby; when it is, the key's promise holds.
    const commit = 2000n;
    const standbys = NODES.filter((n) => n !== promoted).map((name, i) => ({ name, connected: chance(0.5), streaming: true, pid: i, flush: chance(0.5) ? commit : ACKED }));
    if (acknowledged(commit, plan.ssn, standbys.map((x) => ({ ...x, connected: false })))) assert.fail(`${where}: a commit acknowledged with no standby connected`);
    if (acknowledged(commit, plan.ssn, standbys)) {
      const on = key.syncStandbys.filter((n) => standbys.find((x) => x.name === n)!.flush >= commit).length;
      if (on < key.syncStandbys.length - (key.quorum ?? 0)) assert.fail(`${where}: commit acknowledged on ${on} of the listed standbys`);
    }
    // The new leader's first cycle with nobody streaming agrees with what it wrote: nothing to change.
    const next = planSync({ me: promoted, settings, view: view({ members, sync: { ...key, keyVersion: 6 } }), connections: [], primaryLsn: ACKED, currentSsn: plan.ssn, ssnManaged: true, watermarks: new Map() });
    if (next.steps.length > 0) assert.fail(`${where}: the first cycle changes it: ${JSON.stringify(next.steps)}`);
    // The new primary dies before any standby confirmed: whoever may take over holds every acknowledged commit.
    for (const name of NODES.filter((n) => n !== promoted)) {
      if (mayRace(name, { ...key, keyVersion: 6 }, promoted) && flush.get(name)! < ACKED) assert.fail(`${where}: ${name} may take over without commit ${ACKED}`);
    }
  }
}

describe('synchronous mode (seeded model)', () => {
  it('a strict promotion keeps the key honest and never widens it', () => {
    const seed = Number(process.env.HACTL_SYNC_SEED ?? 0x5eed);
    const cases = Number(process.env.HACTL_SYNC_CASES ?? 300) * 3;
    for (let i = 0; i < cases; i++) runPromotionCase(seed + i);
  });

  it('never lets the key or a promotion lose an acknowledged commit', () => {
    const seed = Number(process.env.HACTL_SYNC_SEED ?? 0x5eed);
    const cases = Number(process.env.HACTL_SYNC_CASES ?? 300);
    for (let i = 0; i < cases; i++) runCase(seed + i);
  });
});

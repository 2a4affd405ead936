/**
 * decide() over many random situations, checking the safety rules that must hold whatever the
 * inputs. Seeded: a failure prints the seed and case number; rerun one with
 * HACTL_HA_SEED=<seed> (and HACTL_HA_CASES=<n> for more cases).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterView, FailoverRequest, Member, MemberTags } from '../../../src/dcs/index.js';
import {
  decide,
  isNoFailover,
  leaseCoversNextCycle,
  type DecideInput,
  type Decision,
  type LocalPostgresState,
  type LongActionName,
  type MemberHealth,
} from '../../../src/agent/ha/index.js';
import { MONO_NOW, PRIMARY_LSN, SYSID, WALL_NOW, config, member } from './fixtures.js';
import { mulberry32 as rng } from '../../helpers/prng.js';


const NAMES = ['srv1', 'srv2', 'srv3', 'srv4'];
const LONG_ACTIONS: LongActionName[] = ['bootstrap', 'clone', 'promote', 'demote', 'restart', 'starting primary after failure', 'rewind'];

function generate(random: () => number): DecideInput {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const chance = (p: number): boolean => random() < p;
  const maybe = <T>(p: number, f: () => T): T | null => (chance(p) ? f() : null);
  const lsn = (): bigint => PRIMARY_LSN + BigInt(Math.floor((random() - 0.7) * 4_000_000));
  const tags = (): MemberTags =>
    pick<MemberTags>([{}, {}, { nofailover: true }, { failover_priority: 0 }, { failover_priority: 2 }, { clonefrom: true }, { replicatefrom: pick(NAMES) }]);

  const me = pick(NAMES);
  const members: Member[] = NAMES.filter(() => chance(0.8)).map((name) =>
    member(name, { role: pick(['primary', 'replica', 'replica']), state: pick(['running', 'running', 'starting', 'stopped']), timeline: pick([1, 2, null]), tags: tags() }),
  );
  const failover: FailoverRequest | null = maybe(0.3, () => ({
    leader: maybe(0.6, () => pick(NAMES)),
    candidate: maybe(0.7, () => pick(NAMES)),
    scheduledAt: maybe(0.3, () => {
      const ms = WALL_NOW + Math.floor((random() - 0.5) * 120_000);
      return chance(0.9) ? { text: new Date(ms).toISOString(), ms } : { text: 'garbage', ms: null };
    }),
    keyVersion: 77,
  }));
  const view: ClusterView = {
    initialize: pick([SYSID, SYSID, SYSID, '', null, '7399999999999999999']),
    config: { data: {}, keyVersion: 1 },
    leader: maybe(0.6, () => ({ name: pick([me, ...NAMES]), keyVersion: 5, expiresInMs: null })),
    members,
    history: maybe(0.3, () => ({ lines: [{ timeline: 1, lsn: PRIMARY_LSN, reason: '', timestamp: null, newLeader: null }], keyVersion: 2 })),
    failover,
    sync: null,
    status: { lastLsn: maybe(0.8, lsn), slots: {}, retainSlots: [] },
  };
  const role = pick<LocalPostgresState['role']>(['primary', 'replica', 'replica', 'starting', 'stopped', 'crashed']);
  const local: LocalPostgresState = {
    role,
    dataDir: pick(['valid', 'valid', 'valid', 'empty', 'invalid']),
    systemIdentifier: pick([SYSID, SYSID, SYSID, null, '7399999999999999999']),
    timeline: pick([1, 1, 2, null]),
    writeLsn: role === 'primary' ? lsn() : null,
    receivedLsn: maybe(0.8, lsn),
    replayedLsn: maybe(0.8, lsn),
    receivingFrom: maybe(0.7, () => pick(NAMES)),
    wasPrimary: chance(0.4),
    pendingRestart: chance(0.1),
    rewindCapable: chance(0.5),
  };
  const memberHealth: MemberHealth[] = NAMES.filter((n) => n !== me && chance(0.7)).map((name) => ({
    name,
    reachable: chance(0.8),
    role: pick(['replica', 'replica', 'replica', 'primary', 'unknown'] as const),
    state: 'running',
    walLsn: maybe(0.9, lsn),
    timeline: pick([1, 2, null]),
    nofailover: chance(0.2),
    failoverPriority: pick([0, 1, 1, 2]),
    watchdogFailed: chance(0.1),
  }));
  const loopWaitMs = pick([1_000, 2_000, 10_000]);
  const retryTimeoutMs = pick([1_000, 3_000, 10_000]);
  return {
    view: chance(0.9) ? view : null,
    dcsOk: chance(0.8),
    local,
    config: config({
      name: me,
      tags: tags(),
      ttlMs: loopWaitMs + 2 * retryTimeoutMs + pick([0, 5_000]),
      loopWaitMs,
      retryTimeoutMs,
      primaryStartTimeoutMs: pick([0, 300_000]),
      checkTimeline: chance(0.3),
      usePgRewind: chance(0.5),
      removeDataDirectoryOnDivergedTimelines: chance(0.2),
      removeDataDirectoryOnRewindFailure: chance(0.2),
      pause: chance(0.2),
      canBootstrap: chance(0.9),
    }),
    memberHealth,
    nowMs: WALL_NOW,
    monoNowMs: MONO_NOW,
    self: {
      leaseDeadlineMonoMs: maybe(0.6, () => MONO_NOW + Math.floor((random() - 0.2) * 40_000)),
      longAction: maybe(0.15, () => ({ name: pick(LONG_ACTIONS), startedMonoMs: MONO_NOW - Math.floor(random() * 400_000) })),
      startingSinceMonoMs: role === 'starting' ? MONO_NOW - Math.floor(random() * 400_000) : null,
      divergence: maybe(0.3, () => ({ leader: pick(NAMES), diverged: chance(0.5) })),
      rewindFailed: chance(0.1),
    },
  };
}

const runsAsPrimary = (l: LocalPostgresState): boolean => l.role === 'primary' || (l.role === 'starting' && l.wasPrimary);

/** The rules; each returns a message when broken. `d` may be a top-level decision or an ifLockLost alternative. */
function violations(input: DecideInput, d: Decision, isAlternative: boolean): string[] {
  const out: string[] = [];
  const { view, config, local } = input;
  const me = config.name;
  const holdsKey = input.dcsOk && view?.leader?.name === me;
  const keyFree = input.dcsOk && view !== null && view.leader === null;
  const noFailover = isNoFailover(config.tags);

  if (typeof d.reason !== 'string' || d.reason.trim() === '') out.push('empty reason');
  if (config.pause !== d.reason.startsWith('PAUSE: ')) out.push('PAUSE prefix must appear exactly when paused');

  // Only the key holder (or the winner of an atomic create of a free key) may become or stay a primary.
  if (['renew', 'promote', 'restart-primary', 'hand-over'].includes(d.action) && !holdsKey) out.push(`${d.action} without holding the key`);
  if (d.action === 'acquire-and-promote' && !keyFree) out.push('acquire-and-promote while the key is not free');
  if (d.action === 'acquire-and-promote' && !d.promote && local.role !== 'primary') out.push('acquire without promote for a non-primary');
  if (d.action === 'bootstrap' && !(keyFree && view!.initialize === null && local.dataDir === 'empty')) out.push('bootstrap outside first boot');

  // A nofailover member never turns a replica into a primary.
  if (noFailover && (d.action === 'promote' || d.action === 'bootstrap' || (d.action === 'acquire-and-promote' && d.promote))) {
    out.push(`${d.action} on a nofailover member`);
  }

  // A primary whose key belongs to someone else must stop being one.
  const someoneElseHolds = input.dcsOk && view?.leader !== null && view?.leader !== undefined && view.leader.name !== me;
  const bootstrapping = input.self.longAction?.name === 'bootstrap';
  if (!isAlternative && someoneElseHolds && runsAsPrimary(local) && !config.pause && !bootstrapping && local.dataDir === 'valid') {
    const sysidOk = view!.initialize === null || view!.initialize === '' || local.systemIdentifier === null || view!.initialize === local.systemIdentifier;
    if (sysidOk && !['demote', 'stop'].includes(d.action)) out.push(`primary without the key got ${d.action}`);
  }

  // Without the DCS, a primary keeps running only while its lease outlasts the next cycle plus a demotion.
  if (!isAlternative && (!input.dcsOk || view === null) && runsAsPrimary(local) && !config.pause) {
    if (d.action !== 'demote' && !leaseCoversNextCycle(input)) out.push(`no demotion with the lease running out (${d.action})`);
  }

  // Nothing but reporting, lock upkeep, operator-requested failover and a running replica following the
  // leader of the day (Patroni re-points primary_conninfo in pause too) in pause.
  if (config.pause) {
    const allowed = ['no-action', 'renew', 'release-leader', 'acquire-and-promote', 'hand-over', 'fatal', 'wait-for-initialize'];
    if (!allowed.includes(d.action) && !(d.action === 'follow' && local.role === 'replica')) out.push(`${d.action} in pause`);
    if (d.action === 'acquire-and-promote' && d.promote && view?.failover?.candidate !== me) out.push('promotion in pause without a manual failover to me');
    if (d.action === 'hand-over' && (d.candidate === null || view?.failover?.scheduledAt)) out.push('hand-over in pause needs an unscheduled candidate');
  }

  // A handover goes to a candidate that answered and may promote.
  if (d.action === 'hand-over' && d.candidate !== null) {
    const h = input.memberHealth.find((m) => m.name === d.candidate);
    if (!h || !h.reachable || h.nofailover || h.watchdogFailed) out.push(`hand-over to unhealthy ${d.candidate}`);
    if (d.candidate === me) out.push('hand-over to myself');
  }
  if ('ifLockLost' in d) out.push(...violations(input, d.ifLockLost, true).map((v) => `ifLockLost: ${v}`));
  return out;
}

describe('decide (randomized)', () => {
  const seed = Number(process.env.HACTL_HA_SEED ?? 20_240_601);
  const cases = Number(process.env.HACTL_HA_CASES ?? 20_000);

  it(`keeps the safety rules in ${cases} random situations (seed ${seed})`, () => {
    const random = rng(seed);
    const seen = new Set<string>();
    for (let i = 0; i < cases; i++) {
      const input = generate(random);
      let decision: Decision;
      try {
        decision = decide(input);
      } catch (err) {
        assert.fail(`seed ${seed} case ${i}: decide threw ${(err as Error).stack}`);
      }
      seen.add(decision.action);
      const broken = violations(input, decision, false);
      if (broken.length > 0) {
        const show = JSON.stringify({ input, decision }, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v), 2);
        assert.fail(`seed ${seed} case ${i}: ${broken.join('; ')}\n${show}`);
      }
    }
    // The generator must reach the interesting branches, or the rules above prove little.
    for (const action of ['acquire-and-promote', 'renew', 'promote', 'demote', 'follow', 'hand-over', 'restart-primary', 'rewind', 'bootstrap', 'clone']) {
      assert.ok(seen.has(action), `seed ${seed}: no case produced ${action}`);
    }
  });
});

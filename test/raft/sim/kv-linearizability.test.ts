/**
 * The KV store on the simulated Raft cluster, judged by the linearizability checker.
 *
 * Clients write through proposals (retrying one (clientId, seq) across leader changes, so the
 * store's de-duplication is on the path) and read through ReadIndex or through the log, while the
 * simulator injects partitions, message loss and duplication, pauses, crashes and
 * snapshots/compaction. Every client-visible operation goes into a history with its virtual
 * invocation and completion times; operations whose outcome the client never learned are
 * recorded as unknown (they may or may not have taken effect).
 *
 * Seeds: HACTL_KV_SEEDS (default 150 per scenario, a few seconds in total). A failing seed is
 * printed with the checker's explanation and the simulator's trace.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Entry, NodeId } from '../../../src/raft/core/types.js';
import { encodeCommand, KvCommandError } from '../../../src/raft/kv/command.js';
import { ExpiryScheduler } from '../../../src/raft/kv/expiry.js';
import { holderDeadlineMs } from '../../../src/raft/kv/lease.js';
import { KvStore } from '../../../src/raft/kv/store.js';
import type { KvCommand, KvEntry, KvResult } from '../../../src/raft/kv/types.js';
import {
  checkHistory,
  checkLockHistory,
  kvRegisterModel,
  type KvOpInput,
  type KvOpOutput,
  type LockOp,
  type Operation,
} from '../../helpers/lincheck.js';
import { type ClientOp, SimCluster, type SimContext, type SimOptions, type SimStateMachine } from './cluster.js';
import { Rng } from './prng.js';

const SEEDS = Number(process.env.HACTL_KV_SEEDS ?? 150);

/** The real KvStore as the simulator's state machine, on the node's own drifting clock. */
class KvStateMachine implements SimStateMachine {
  store = new KvStore();
  constructor(private readonly ctx: SimContext) {}
  apply(entry: Entry): unknown {
    return this.store.applyEncoded(entry.index, entry.data, this.ctx.now());
  }
  snapshot(): Uint8Array {
    return this.store.snapshot();
  }
  restore(data: Uint8Array | null): void {
    this.store = data === null ? new KvStore() : KvStore.restore(data, this.ctx.now());
  }
}

type WriteOutcome =
  | { status: 'ok'; result: KvResult; firstSentAt: number; completedAt: number }
  | { status: 'unknown'; firstSentAt: number }
  /** Every attempt certainly had no effect. */
  | { status: 'failed'; firstSentAt: number };

/** A simulated cluster running KvStore, with client helpers and the leader's expiry duty. */
class KvSim {
  readonly sim: SimCluster;
  expiriesCommitted = 0;
  private readonly schedulers = new Map<NodeId, { term: number; scheduler: ExpiryScheduler }>();

  constructor(options: Omit<SimOptions, 'stateMachine'>) {
    this.sim = new SimCluster({ ...options, stateMachine: (ctx) => new KvStateMachine(ctx) });
    this.driveExpiry();
  }

  store(id: NodeId): KvStore {
    return (this.sim.stateMachine(id) as KvStateMachine).store;
  }

  rate(id: NodeId): number {
    return this.sim.nodes.get(id)!.rate;
  }

  /** What node.ts does on every tick: only a node that believes it leads proposes expiries. */
  private driveExpiry(): void {
    const sim = this.sim;
    const tick = (): void => {
      for (const id of sim.nodes.keys()) {
        const st = sim.core(id)?.status();
        if (!st || st.role !== 'leader') {
          this.schedulers.delete(id);
          continue;
        }
        let s = this.schedulers.get(id);
        if (!s || s.term !== st.term) this.schedulers.set(id, (s = { term: st.term, scheduler: new ExpiryScheduler(500) }));
        for (const due of s.scheduler.due(this.store(id), sim.clock(id))) {
          const op = sim.submit(encodeCommand({ op: 'expire', ...due }), { node: id, timeoutMs: 1_000 });
          this.whenDone(op, () => {
            const r = op.result as KvResult | undefined;
            if (op.status === 'ok' && r?.ok) this.expiriesCommitted++;
          });
        }
      }
      sim.schedule(50, tick);
    };
    sim.schedule(50, tick);
  }

  /** Call `fn` once `op` resolved (the simulator has no callbacks: poll in virtual time). */
  whenDone(op: ClientOp, fn: () => void): void {
    const poll = (): void => {
      if (op.status === 'pending') this.sim.schedule(2, poll);
      else fn();
    };
    poll();
  }

  /**
   * One client write with exactly-once retries: the same (clientId, seq) is re-proposed through
   * whoever leads until an attempt gives an answer or `deadlineMs` passes.
   */
  write(clientId: string, seq: number, command: KvCommand, deadlineMs: number, done: (o: WriteOutcome) => void, fromHost?: NodeId): void {
    const sim = this.sim;
    const data = encodeCommand({ clientId, seq, command });
    const firstSentAt = sim.now;
    const giveUpAt = sim.now + deadlineMs;
    let maybeApplied = false;
    const retryOrGiveUp = (): void => {
      if (sim.now + 20 >= giveUpAt) done({ status: maybeApplied ? 'unknown' : 'failed', firstSentAt });
      else sim.schedule(sim.rng.range(10, 60), attempt);
    };
    const attempt = (): void => {
      const leader = sim.leader();
      // A client on `fromHost` reaches the leader through the (partitionable) network.
      if (fromHost !== undefined && (leader === null || !this.reachable(fromHost, leader))) {
        retryOrGiveUp();
        return;
      }
      const op = sim.submit(data, { node: leader ?? undefined, timeoutMs: Math.min(400, Math.max(1, giveUpAt - sim.now)) });
      this.whenDone(op, () => {
        if (op.status === 'ok' && fromHost !== undefined && leader !== null && !this.reachable(leader, fromHost)) {
          maybeApplied = true; // applied, but the answer cannot reach the client
          retryOrGiveUp();
          return;
        }
        if (op.status === 'ok') {
          if (op.result instanceof KvCommandError) throw op.result;
          const result = op.result as KvResult;
          if (!result.ok && result.reason === 'stale-request') throw new Error(`${clientId} seq ${seq}: store answered stale-request to a live request`);
          done({ status: 'ok', result, firstSentAt, completedAt: sim.now });
          return;
        }
        if (op.status === 'unknown') maybeApplied = true;
        retryOrGiveUp();
      });
    };
    attempt();
  }

  /** A linearizable read via ReadIndex on the leader; null when it could not be served. */
  read(key: string, done: (r: { entry: KvEntry | null; invokedAt: number; completedAt: number } | null) => void): void {
    const op = this.sim.read((sm) => (sm as KvStateMachine).store.get(key), { timeoutMs: 400 });
    this.whenDone(op, () => done(op.status === 'ok' ? { entry: op.result as KvEntry | null, invokedAt: op.invokedAt, completedAt: op.completedAt! } : null));
  }

  /** Links cut by `chaos`, mirrored here because clients on a host share its network fate. */
  private readonly cuts = new Set<string>();

  reachable(from: NodeId, to: NodeId): boolean {
    return from === to || !this.cuts.has(`${from}>${to}`);
  }

  cutLink(from: NodeId, to: NodeId, oneWay: boolean): void {
    this.sim.cutLink(from, to, oneWay);
    this.cuts.add(`${from}>${to}`);
    if (!oneWay) this.cuts.add(`${to}>${from}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.sim.nodes.keys()) if (other !== id) this.cutLink(id, other, false);
  }

  heal(): void {
    this.sim.heal();
    this.cuts.clear();
  }

  /** Random faults until `isOn()` turns false (the mix scenario.ts uses, minus membership). */
  chaos(rng: Rng, isOn: () => boolean): void {
    const sim = this.sim;
    const ids = [...sim.nodes.keys()];
    const fault = (): void => {
      if (!isOn()) return;
      const id = rng.pick(ids);
      const f = rng.next();
      if (f < 0.2) {
        const other = rng.pick(ids.filter((x) => x !== id));
        this.cutLink(id, other, rng.chance(0.5));
        sim.log(`cut ${id}>${other}`);
        sim.schedule(rng.range(200, 2_500), () => this.heal());
      } else if (f < 0.4) {
        const victim = rng.chance(0.5) ? (sim.leader() ?? id) : id;
        this.isolate(victim);
        sim.log(`isolate ${victim}`);
        sim.schedule(rng.range(500, 3_000), () => this.heal());
      } else if (f < 0.55) {
        sim.pause(id, rng.range(100, 2_000));
      } else if (f < 0.8) {
        const victim = rng.chance(0.5) ? (sim.leader() ?? id) : id;
        sim.crash(victim);
        sim.schedule(rng.range(50, 1_500), () => sim.restart(victim));
      } else {
        const leader = sim.leader();
        const to = rng.pick(ids);
        if (leader && to !== leader) sim.core(leader)!.transferLeadership(to);
      }
      sim.schedule(rng.range(200, 1_000), fault);
    };
    sim.schedule(rng.range(300, 800), fault);
  }

  /** Stop faults, let everything reconnect and settle so pending operations resolve. */
  settle(ms: number): void {
    this.heal();
    this.sim.setNetwork({ lossRate: 0, duplicateRate: 0 });
    this.sim.resumeAll();
    this.sim.restartAll();
    this.sim.runFor(ms);
  }
}

function randomNetwork(rng: Rng): { lossRate: number; duplicateRate: number; delayMs: [number, number] } {
  return { lossRate: rng.chance(0.3) ? 0 : rng.range(0, 0.1), duplicateRate: rng.range(0, 0.05), delayMs: [0.1, rng.range(1, 20)] };
}

// ---- scenario 1: registers with CAS --------------------------------------------------------

type KvOp = Operation<KvOpInput, KvOpOutput>;

interface RegisterRun {
  history: KvOp[];
  sim: SimCluster;
  okWrites: number;
  okReads: number;
}

function runRegisterScenario(seed: number, opts: { staleFollowerReads?: boolean } = {}): RegisterRun {
  const rng = new Rng(seed * 7_919 + 17);
  const kv = new KvSim({
    seed,
    nodes: rng.pick([3, 3, 5]),
    compactEvery: rng.pick([0, 8, 30]),
    clockDrift: 0.01,
    network: randomNetwork(rng),
    config: { snapshotChunkBytes: rng.pick([64, 4096]) },
  });
  const sim = kv.sim;
  const keys = ['x', 'y'];
  const history: KvOp[] = [];
  let chaosOn = true;
  let okWrites = 0;
  let okReads = 0;

  const client = (clientId: string): void => {
    let seq = 0;
    const seenVersion = new Map<string, number>();
    const next = (): void => {
      if (chaosOn) sim.schedule(rng.range(0, 40), loop);
    };
    const loop = (): void => {
      const key = rng.pick(keys);
      const r = rng.next();
      if (opts.staleFollowerReads && r < 0.4) {
        // Deliberately wrong: a local read on any node, as pysyncobj/Patroni did.
        const up = [...sim.nodes.keys()].filter((id) => sim.isUp(id));
        const entry = kv.store(rng.pick(up)).get(key);
        history.push({ clientId, input: { op: 'get', key }, call: sim.now, ret: sim.now, output: entryOutput(entry) });
        next();
        return;
      }
      if (r < 0.15) {
        // A read through the log: a delete conditioned on an impossible version changes nothing
        // and answers with the key as of its place in the log.
        kv.write(clientId, ++seq, { op: 'delete', key, ifVersion: Number.MAX_SAFE_INTEGER }, 1_000, (o) => {
          if (o.status === 'ok') {
            if (o.result.ok) throw new Error('impossible-version delete succeeded');
            okReads++;
            history.push({ clientId, input: { op: 'get', key }, call: o.firstSentAt, ret: o.completedAt, output: entryOutput(o.result.current) });
          }
          next();
        });
        return;
      }
      if (r < 0.35) {
        kv.read(key, (res) => {
          if (res) {
            okReads++;
            if (res.entry) seenVersion.set(key, res.entry.version);
            history.push({ clientId, input: { op: 'get', key }, call: res.invokedAt, ret: res.completedAt, output: entryOutput(res.entry) });
          }
          next();
        });
        return;
      }
      const value = `${clientId}.${seq + 1}`;
      const known = seenVersion.get(key) ?? 0;
      const kind = rng.pick(['set', 'cas', 'cas', 'create', 'delete', 'delete-if-value'] as const);
      const input: KvOpInput =
        kind === 'set' ? { op: 'set', key, value }
        : kind === 'cas' ? { op: 'set', key, value, ifVersion: rng.chance(0.8) && known > 0 ? known : rng.int(1, 40) }
        : kind === 'create' ? { op: 'set', key, value, ifVersion: 0 }
        : kind === 'delete' ? { op: 'delete', key }
        : { op: 'delete', key, ifValue: rng.chance(0.5) ? `${clientId}.${seq}` : 'nobody' };
      seq++;
      kv.write(clientId, seq, input as KvCommand, rng.range(300, 2_500), (o) => {
        if (o.status === 'ok') {
          okWrites++;
          if (o.result.ok && o.result.entry) seenVersion.set(key, o.result.entry.version);
          history.push({ clientId, input, call: o.firstSentAt, ret: o.completedAt, output: resultOutput(o.result) });
        } else if (o.status === 'unknown') {
          history.push({ clientId, input, call: o.firstSentAt, ret: null, output: null });
        }
        next();
      });
    };
    sim.schedule(rng.range(400, 700), loop);
  };
  for (let c = 0; c < 5; c++) client(`c${c}`);
  kv.chaos(rng, () => chaosOn);
  sim.runFor(6_000);
  chaosOn = false;
  kv.settle(4_000);
  return { history, sim, okWrites, okReads };
}

function entryOutput(entry: KvEntry | null): KvOpOutput {
  return entry === null ? { ok: true, value: null } : { ok: true, value: entry.value, version: entry.version };
}

function resultOutput(r: KvResult): KvOpOutput {
  if (r.ok) return r.entry ? { ok: true, version: r.entry.version } : { ok: true };
  if (r.reason === 'stale-request') throw new Error('stale-request reached the history');
  return { ok: false, reason: r.reason };
}

// ---- scenario 2: a TTL lock (the DCS leader key) ---------------------------------------------

interface LockRun {
  ops: LockOp[];
  sim: SimCluster;
  acquired: number;
  expiries: number;
}

const LOCK_KEY = '/service/batman/leader';

function runLockScenario(seed: number, opts: { ttlMs?: number; driftBound?: number; clockDrift?: number } = {}): LockRun {
  const rng = new Rng(seed * 104_729 + 3);
  const ttlMs = opts.ttlMs ?? 1_500;
  // Relative rate of two clocks drawn from [1-d, 1+d] is at most (1+d)/(1-d): 1.008 for d=0.004.
  const clockDrift = opts.clockDrift ?? 0.004;
  const driftBound = opts.driftBound ?? 0.01;
  const kv = new KvSim({ seed, nodes: 3, compactEvery: rng.pick([0, 10]), clockDrift, network: randomNetwork(rng) });
  const sim = kv.sim;
  const ops: LockOp[] = [];
  let chaosOn = true;
  let acquired = 0;

  // One agent per host, reading that host's clock; loop_wait = ttl / 3 as in Patroni's defaults.
  for (const host of sim.nodes.keys()) {
    const me = `agent-${host}`;
    let seq = 0;
    let believedUntil = -Infinity;
    let keyMayBeMine = false;
    const loop = (): void => {
      if (!chaosOn) return;
      const holding = sim.now < believedUntil;
      const sentAt = sim.now;
      const sentLocal = sim.clock(host);
      const finish = (): void => sim.schedule((ttlMs / 3) * rng.range(0.7, 1.1), loop);
      if (holding && rng.chance(0.1)) {
        believedUntil = -Infinity; // stops acting as owner before asking to release
        keyMayBeMine = false;
        kv.write(me, ++seq, { op: 'delete', key: LOCK_KEY, ifValue: me }, ttlMs / 3, (o) => {
          ops.push(lockOp(me, 'release', sentAt, o));
          finish();
        }, host);
        return;
      }
      const kind = holding || keyMayBeMine ? 'renew' : 'acquire';
      const command: KvCommand =
        kind === 'renew' ? { op: 'set', key: LOCK_KEY, value: me, ttlMs, ifValue: me } : { op: 'set', key: LOCK_KEY, value: me, ttlMs, ifVersion: 0 };
      kv.write(me, ++seq, command, ttlMs / 3, (o) => {
        const op = lockOp(me, kind, sentAt, o);
        if (o.status === 'ok' && o.result.ok) {
          // Counted from the SEND of the first attempt, on this host's clock (lease.ts).
          op.believedUntil = holderDeadlineMs(sentLocal, ttlMs, driftBound) / kv.rate(host);
          believedUntil = Math.max(believedUntil, op.believedUntil);
          keyMayBeMine = true;
          if (kind === 'acquire') acquired++;
        } else if (o.status === 'ok') {
          keyMayBeMine = !o.result.ok && o.result.current?.value === me;
          if (kind === 'renew') believedUntil = -Infinity;
        }
        ops.push(op);
        finish();
      }, host);
    };
    sim.schedule(rng.range(300, 900), loop);
  }
  kv.chaos(rng, () => chaosOn);
  sim.runFor(20_000);
  chaosOn = false;
  kv.settle(1_000);
  return { ops, sim, acquired, expiries: kv.expiriesCommitted };
}

function lockOp(clientId: string, kind: LockOp['kind'], sentAt: number, o: WriteOutcome): LockOp {
  if (o.status === 'ok') return { clientId, kind, key: LOCK_KEY, sentAt, completedAt: o.completedAt, ok: o.result.ok };
  // No answer (never applied, or unknown): the holder learns nothing and keeps its last confirmed deadline.
  return { clientId, kind, key: LOCK_KEY, sentAt, completedAt: null, ok: null };
}

// ---- tests ----------------------------------------------------------------------------------

function failWith(seed: number, sim: SimCluster, message: string): never {
  assert.fail(`seed=${seed}: ${message}\n--- simulator ---\n${sim.describe()}`);
}

describe('KV store on the simulated Raft cluster', () => {
  it(`is linearizable under partitions, loss, pauses, crashes and compaction (${SEEDS} seeds)`, () => {
    let writes = 0;
    let reads = 0;
    let unknown = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const run = runRegisterScenario(seed);
      const verdict = checkHistory(kvRegisterModel, run.history);
      if (verdict.result !== 'ok') failWith(seed, run.sim, verdict.message);
      writes += run.okWrites;
      reads += run.okReads;
      unknown += run.history.filter((o) => o.ret === null).length;
    }
    // Guard against a vacuous pass (a workload that never got anything through).
    assert.ok(writes > SEEDS * 20 && reads > SEEDS * 10, `writes=${writes} reads=${reads}`);
    assert.ok(unknown > 0, 'faults should leave some outcomes unknown');
  });

  it('the checker catches stale local reads on followers in the same workload (negative control)', () => {
    let caught = 0;
    for (let seed = 1; seed <= 10 && caught === 0; seed++) {
      if (checkHistory(kvRegisterModel, runRegisterScenario(seed, { staleFollowerReads: true }).history).result === 'illegal') caught++;
    }
    assert.ok(caught > 0, 'local follower reads should be flagged as non-linearizable on some seed');
  });

  it(`never has two owners of a TTL lock, judged by the holders' own beliefs (${SEEDS} seeds)`, () => {
    let acquired = 0;
    let expiries = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const run = runLockScenario(seed);
      const verdict = checkLockHistory(run.ops);
      if (!verdict.ok) failWith(seed, run.sim, verdict.message);
      acquired += run.acquired;
      expiries += run.expiries;
    }
    assert.ok(acquired > SEEDS, `the lock changed hands only ${acquired} times`);
    assert.ok(expiries > 0, 'some leases should have run out and been expired by the Raft leader');
  });

  it('a holder that ignores clock drift is caught by the lock check (negative control)', () => {
    let caught = 0;
    for (let seed = 1; seed <= 30 && caught === 0; seed++) {
      // Clocks up to 20% apart, holders assume none: a slow holder believes too long.
      if (!checkLockHistory(runLockScenario(seed, { clockDrift: 0.2, driftBound: 0 }).ops).ok) caught++;
    }
    assert.ok(caught > 0, 'an unsafe holder deadline should produce two owners on some seed');
  });

  it('after the Raft leader and the lock holder die together, the new leader expires the key when what remained of the lease ran out', () => {
    const ttlMs = 3_000;
    const kv = new KvSim({ seed: 7, nodes: 3, clockDrift: 0.004 });
    const sim = kv.sim;
    assert.ok(sim.runUntil(() => sim.leader() !== null, 5_000));
    const host = sim.leader()!;
    const me = `agent-${host}`;
    let sentAt = 0;
    let believedUntil = 0;
    let renewed = false;
    const renew = (seq: number): void => {
      sentAt = sim.now;
      const sentLocal = sim.clock(host);
      kv.write(me, seq, { op: 'set', key: LOCK_KEY, value: me, ttlMs }, 1_000, (o) => {
        assert.equal(o.status, 'ok');
        believedUntil = holderDeadlineMs(sentLocal, ttlMs, 0.01) / kv.rate(host);
        renewed = true;
      });
    };
    renew(1);
    assert.ok(sim.runUntil(() => renewed, 1_000));
    sim.runFor(1_000);
    renewed = false;
    renew(2);
    assert.ok(sim.runUntil(() => renewed, 1_000));
    const lastSend = sentAt;
    sim.runFor(800);
    sim.crash(host); // the host running the primary and the Raft leader is gone
    const survivor = [...sim.nodes.keys()].find((id) => id !== host)!;
    assert.ok(sim.runUntil(() => kv.store(survivor).get(LOCK_KEY) === null, 10_000), 'key never expired');
    const expiredAt = sim.now;
    assert.ok(expiredAt >= believedUntil, `expired at ${expiredAt}, before the holder's belief ended (${believedUntil})`);
    // Remaining lease only: ttl after the last renewal plus a little (apply delay, tick, commit),
    // not a whole new ttl from the election.
    assert.ok(expiredAt - lastSend < ttlMs * 1.02 + 200, `expired ${expiredAt - lastSend} ms after the last renewal was sent`);
  });
});

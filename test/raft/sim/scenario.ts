/**
 * One randomized simulation run from a seed: client load and faults for a chaos phase, then heal
 * everything and require liveness (a leader, convergence, fresh writes commit). Safety invariants
 * are checked by the simulator after every event throughout.
 */
import type { NodeId } from '../../../src/raft/core/types.js';
import { type ClientOp, SimCluster } from './cluster.js';
import { Rng } from './prng.js';

export interface ScenarioOptions {
  seed: number;
  chaosMs?: number;
  /** Force these features regardless of the seed's draw. */
  wholeClusterRestart?: boolean;
  membershipChanges?: boolean;
}

export interface ScenarioResult {
  seed: number;
  options: string;
  acked: number;
  events: number;
  crashes: number;
  elections: number;
}

export class LivenessFailure extends Error {
  override name = 'LivenessFailure';
}

/** Why a seed failed, with the simulator state attached for the report. */
export class ScenarioFailure extends Error {
  override name = 'ScenarioFailure';
  constructor(
    readonly seed: number,
    readonly error: Error,
    readonly dump: string,
  ) {
    super(`seed=${seed}: ${error.name}: ${error.message}`);
  }
}

const enc = (s: string) => new TextEncoder().encode(s);

export function runScenario(opts: ScenarioOptions): { sim: SimCluster; result: ScenarioResult } {
  let sim: SimCluster | null = null;
  try {
    return run(opts, (s) => (sim = s));
  } catch (e) {
    const dump = sim === null ? '' : (sim as SimCluster).describe();
    throw new ScenarioFailure(opts.seed, e as Error, dump);
  }
}

function run(opts: ScenarioOptions, expose: (sim: SimCluster) => void): { sim: SimCluster; result: ScenarioResult } {
  const rng = new Rng(opts.seed * 2654435761);
  const nodeCount = rng.pick([3, 3, 5]);
  const wholeRestart = opts.wholeClusterRestart ?? rng.chance(0.25);
  const membership = opts.membershipChanges ?? rng.chance(0.3);
  const chaosMs = opts.chaosMs ?? 30_000;
  const network = {
    lossRate: rng.chance(0.3) ? 0 : rng.range(0, 0.15),
    duplicateRate: rng.range(0, 0.05),
    delayMs: [0.1, rng.range(1, 40)] as [number, number],
  };
  const compactEvery = rng.pick([0, 15, 60]);
  const chunk = rng.pick([16, 100, 4096]);
  const options = JSON.stringify({ nodeCount, wholeRestart, membership, chaosMs, network, compactEvery, chunk });
  const sim = new SimCluster({
    seed: opts.seed,
    nodes: nodeCount,
    compactEvery,
    clockDrift: 0.1,
    network,
    config: { snapshotChunkBytes: chunk, maxEntriesPerAppend: rng.pick([1, 4, 64]), maxInflightAppends: rng.pick([1, 8]) },
  });
  expose(sim);
  sim.log(`seed=${opts.seed} ${options}`);

  let chaos = true;
  let writeNo = 0;
  const writes: ClientOp[] = [];
  const clientLoop = () => {
    if (!chaos) return;
    if (rng.chance(0.2)) sim.read((sm) => (sm as unknown as { entries: string[] }).entries.length, { timeoutMs: 2000 });
    else writes.push(sim.submit(enc(`w${writeNo++}`), { timeoutMs: 2000 }));
    sim.schedule(rng.range(5, 60), clientLoop);
  };
  sim.schedule(500, clientLoop);

  let nextNewNode = nodeCount + 1;
  let restartedAll = false;
  const ids = (): NodeId[] => [...sim.nodes.keys()];
  const faultLoop = () => {
    if (!chaos) return;
    const f = rng.next();
    // Half of the faults hit the leader: that is where replication is left half done.
    const leaderNow = sim.leader();
    const id = leaderNow !== null && rng.chance(0.5) ? leaderNow : rng.pick(ids());
    if (f < 0.2) {
      const other = rng.pick(ids().filter((x) => x !== id));
      sim.cutLink(id, other, rng.chance(0.5));
      sim.log(`cut ${id}>${other}`);
      sim.schedule(rng.range(200, 3000), () => sim.heal());
    } else if (f < 0.35) {
      if (rng.chance(0.5)) {
        sim.isolate(id);
        sim.log(`isolate ${id}`);
      } else {
        // Split into a minority containing id and a majority.
        const all = ids();
        const minority = new Set([id, ...all.filter((x) => x !== id && rng.chance(0.3))].slice(0, Math.floor((all.length - 1) / 2)));
        for (const a of minority) for (const b of all) if (!minority.has(b)) sim.cutLink(a, b);
        sim.log(`partition {${[...minority].join(',')}} from the rest`);
      }
      sim.schedule(rng.range(500, 4000), () => sim.heal());
    } else if (f < 0.5) {
      sim.pause(id, rng.range(100, 2800));
    } else if (f < 0.7) {
      sim.crash(id);
      sim.schedule(rng.range(50, 2000), () => sim.restart(id));
    } else if (f < 0.8 && wholeRestart && !restartedAll) {
      restartedAll = true;
      sim.log('whole-cluster crash');
      sim.crashAll();
      sim.schedule(rng.range(10, 1000), () => sim.restartAll());
    } else if (f < 0.95 && membership) {
      changeMembership();
    } else {
      const leader = sim.leader();
      const to = rng.pick(ids());
      if (leader && to !== leader) {
        const r = sim.core(leader)!.transferLeadership(to);
        sim.log(`transfer ${leader}->${to}: ${r.ok ? 'ok' : r.reason}`);
      }
    }
    sim.schedule(rng.range(150, 900), faultLoop);
  };
  const changeMembership = () => {
    const leader = sim.leader();
    if (!leader) return;
    const m = sim.core(leader)!.status().membership;
    if (m.learners.length > 0) {
      sim.changeMembership({ type: 'addVoter', node: rng.pick(m.learners) });
    } else if (m.voters.length > 3 && rng.chance(0.5)) {
      sim.changeMembership({ type: 'remove', node: rng.pick(m.voters) });
    } else if (nextNewNode <= 7) {
      const id = `n${nextNewNode++}`;
      sim.addNode(id);
      sim.changeMembership({ type: 'addVoter', node: id });
    }
  };
  sim.schedule(800, faultLoop);

  sim.runFor(chaosMs);
  chaos = false;
  sim.heal();
  sim.setNetwork({ lossRate: 0, duplicateRate: 0 });
  sim.resumeAll();
  sim.restartAll();

  const converged = () => {
    const leader = sim.leader();
    if (!leader) return false;
    const st = sim.core(leader)!.status();
    if (st.lastTerm !== st.term || st.commit !== st.lastIndex) return false;
    let leaders = 0;
    for (const id of sim.nodes.keys()) if (sim.core(id)?.status().role === 'leader') leaders++;
    if (leaders !== 1) return false;
    return [...st.membership.voters, ...st.membership.learners].every(
      (id) => sim.appliedIndex(id) === st.commit && sim.core(id)!.status().commit === st.commit,
    );
  };
  if (!sim.runUntil(converged, 30_000)) throw new LivenessFailure('cluster did not converge within 30 s after faults healed');
  // A client retries a refused write (e.g. during a leadership transfer) until it commits.
  let fresh = sim.submit(enc('final'), { timeoutMs: 1000 });
  const deadline = sim.now + 6000;
  const done = () => fresh.status as string;
  while (done() !== 'ok' && sim.now < deadline) {
    sim.runUntil(() => done() !== 'pending', 1000);
    if (done() !== 'ok') {
      sim.runFor(50);
      fresh = sim.submit(enc('final'), { timeoutMs: 1000 });
    }
  }
  if (done() !== 'ok') throw new LivenessFailure(`a fresh write after healing did not commit (${fresh.status} ${fresh.error ?? ''})`);
  sim.runFor(3000);
  if (!converged()) throw new LivenessFailure('cluster did not stay converged');

  // No acknowledged write lost: each is applied at its index on every member.
  const members = sim.members();
  const acked = writes.filter((w) => w.status === 'ok');
  for (const w of acked) {
    const applied = sim.checker.applied[w.index!];
    if (!applied || applied.term !== w.term) throw new LivenessFailure(`acknowledged write at ${w.index} lost`);
    for (const id of members) if (sim.appliedIndex(id) < w.index!) throw new LivenessFailure(`${id} did not apply ${w.index}`);
  }
  const pending = sim.history.filter((op) => op.status === 'pending');
  if (pending.length > 0) throw new LivenessFailure(`${pending.length} client operations never resolved`);

  return {
    sim,
    result: {
      seed: opts.seed,
      options,
      acked: acked.length,
      events: sim.stats.events,
      crashes: sim.stats.crashes,
      elections: sim.stats.elections,
    },
  };
}

// The three faults of issue 9 against a running 3-member cluster, with a writer committing to every
// member directly: SIGSTOP of the leader's agent for longer than ttl, kill -9 of only the leader's
// agent (PostgreSQL left running), and DROP of the leader's Raft and REST ports. Shared by
// test/e2e/fencing.test.ts (asserts) and bench/fence/run.ts (measures, several runs).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { defaultFenceDir } from '../../src/agent/fence/settings.js';
import type { TestCluster } from '../helpers/cluster.js';
import type { NetFault } from '../helpers/netfault.js';
import { LIVENESS_MS, sleep, waitUntil } from '../helpers/wait.js';
import { analyzeWrites, Writer, type WriteAnalysis } from '../helpers/writer.js';

export type FenceFault = 'sigstop' | 'kill-agent' | 'block-ports';

export const FAULT_TITLES: Record<FenceFault, string> = {
  sigstop: "SIGSTOP of the leader's agent",
  'kill-agent': "kill -9 of the leader's agent only",
  'block-ports': "DROP of the leader's Raft and REST ports",
};

export interface FaultRunOptions {
  /** How long the fault lasts at least (from the event); SIGSTOP must outlast ttl. */
  holdMs: number;
  writerIntervalMs?: number;
  log?: (line: string) => void;
}

export interface FaultRunResult {
  fault: FenceFault;
  oldLeader: string;
  newLeader: string | null;
  /** Sum of the windows in which two members acknowledged commits. */
  splitBrainMs: number;
  analysis: WriteAnalysis;
  /** Acknowledged commits of the whole run, and those missing at the end. */
  acked: number;
  lostAcked: number;
  /** Event → first commit acknowledged by another member. */
  timeToNewPrimaryMs: number | null;
  /** Event → last commit acknowledged by the old primary. */
  oldPrimaryLastAckMs: number | null;
  /** Fence kills logged by the old leader's fence during this run, with their lateness. */
  fenceKills: number[];
  /** The old primary streams from the new one again after the fault ended. */
  rejoinedAsReplica: boolean;
  /** Fault end → all three healthy again. */
  rejoinMs: number | null;
}

/** Lateness (ms after the deadline) of each kill in the fence log of `dataDir` after `sinceMs`. */
export function fenceKillsSince(dataDir: string, sinceMs: number): number[] {
  let text = '';
  try {
    text = readFileSync(path.join(defaultFenceDir(dataDir), 'fence.log'), 'utf8');
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}) CRITICAL: fence\[\d+\]: killed PostgreSQL .*? ([\d.]+) ms after the deadline/.exec(line);
    if (!m) continue;
    if (Date.parse(`${m[1]}T${m[2]}.${m[3]}Z`) >= sinceMs) out.push(Number(m[4]));
  }
  return out;
}

export async function runFault(cluster: TestCluster, network: NetFault | undefined, fault: FenceFault, options: FaultRunOptions): Promise<FaultRunResult> {
  const log = options.log ?? (() => {});
  const names = cluster.nodes.map((n) => n.name);
  const oldLeader = await cluster.waitForHealthy(names);
  const old = cluster.node(oldLeader);
  const targets = cluster.nodes.map((n) => ({ name: n.name, host: n.host, port: n.pgPort }));
  const writer = new Writer({ mode: 'every-member', targets, intervalMs: options.writerIntervalMs ?? 50, connectTimeoutMs: 1000, statementTimeoutMs: 2000 });
  await writer.ensureTable();
  writer.start();
  let faultEndedAtMs: number | null = null;
  try {
    await waitUntil(() => writer.acksOf(oldLeader).length >= 20, { timeoutMs: LIVENESS_MS, what: `acks on ${oldLeader}` });
    const eventAtMs = Date.now();
    log(`${fault}: leader ${oldLeader}, fault at ${new Date(eventAtMs).toISOString()}`);
    const agent = cluster.agents.get(oldLeader)!;
    if (fault === 'sigstop') agent.signal('SIGSTOP');
    else if (fault === 'kill-agent') {
      agent.signal('SIGKILL');
      await agent.exited;
    } else {
      if (!network) throw new Error('block-ports needs the cluster in network namespaces (root)');
      await network.blockPort(old.host, old.raftPort);
      await network.blockPort(old.host, old.apiPort);
    }

    const firstNew = await waitUntil(() => writer.acks.find((a) => a.ackedAtMs > eventAtMs && a.member !== oldLeader), {
      timeoutMs: 60_000,
      intervalMs: 50,
      what: 'a commit acknowledged by a new primary',
    }).catch(() => null);
    log(`${fault}: new primary ${firstNew?.member ?? '(none)'} after ${firstNew ? firstNew.ackedAtMs - eventAtMs : '-'} ms`);
    const holdLeft = eventAtMs + options.holdMs - Date.now();
    if (holdLeft > 0) await sleep(holdLeft);

    faultEndedAtMs = Date.now();
    if (fault === 'sigstop') agent.signal('SIGCONT');
    else if (fault === 'kill-agent') cluster.startAgent(oldLeader);
    else await network!.heal();

    let rejoinedAsReplica = false;
    let rejoinMs: number | null = null;
    const newLeader = firstNew?.member ?? null;
    try {
      const leader = await cluster.waitForHealthy(names);
      rejoinedAsReplica = leader !== oldLeader;
      rejoinMs = Date.now() - faultEndedAtMs;
    } catch (err) {
      log(`${fault}: cluster not healthy again: ${(err as Error).message}`);
    }
    // Some commits after the fault ended, so the analysis sees the cluster writing again. When it
    // does not, the analysis reports that (no bound here decides the outcome).
    const endedAt = faultEndedAtMs;
    await waitUntil(() => writer.acks.filter((a) => a.ackedAtMs > endedAt).length >= 10, { timeoutMs: LIVENESS_MS, intervalMs: 50, what: 'commits after the fault ended' }).catch(
      (err: Error) => log(`${fault}: ${err.message}`),
    );
    await writer.stop();
    const newTarget = newLeader ? targets.find((t) => t.name === newLeader) : undefined;
    const rows = await writer.finalRows(newTarget);
    const analysis = analyzeWrites(writer.acks, rows, { eventAtMs, oldMember: oldLeader });
    const lastOld = writer.acksOf(oldLeader).at(-1)?.ackedAtMs ?? null;
    return {
      fault,
      oldLeader,
      newLeader,
      splitBrainMs: analysis.splitBrainWindows.reduce((s, w) => s + w.durationMs, 0),
      analysis,
      acked: analysis.acked,
      lostAcked: analysis.missingAcked,
      timeToNewPrimaryMs: firstNew ? firstNew.ackedAtMs - eventAtMs : null,
      oldPrimaryLastAckMs: lastOld === null ? null : lastOld - eventAtMs,
      fenceKills: fenceKillsSince(old.dataDir, eventAtMs - 1000),
      rejoinedAsReplica,
      rejoinMs,
    };
  } finally {
    await writer.stop().catch(() => {});
    if (faultEndedAtMs === null) {
      // A failure half-way: undo the fault so the teardown (and a next run) find a workable cluster.
      const agent = cluster.agents.get(oldLeader);
      if (fault === 'sigstop') agent?.signal('SIGCONT');
      if (fault === 'block-ports') await network?.heal().catch(() => {});
    }
  }
}

/** One line for logs and RESULTS.md. */
export function describeRun(r: FaultRunResult): string {
  const s = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(2)} s`);
  return (
    `${r.fault}: split-brain ${s(r.splitBrainMs)} (${r.analysis.splitBrainWindows.length} windows), lost ${r.lostAcked} of ${r.acked} acked, ` +
    `new primary after ${s(r.timeToNewPrimaryMs)}, old primary's last ack ${s(r.oldPrimaryLastAckMs)} after the fault, ` +
    `fence kills ${r.fenceKills.length}${r.fenceKills.length ? ` (late by ${r.fenceKills.map((k) => k.toFixed(1)).join(', ')} ms)` : ''}, ` +
    `old primary ${r.rejoinedAsReplica ? 'rejoined as replica' : 'did NOT rejoin as replica'} ${s(r.rejoinMs)} after the fault ended`
  );
}

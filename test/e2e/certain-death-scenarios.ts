// The deaths of issue 17 against a running 3-member cluster, with a writer committing every 20 ms to
// every member directly (so two primaries would show as overlapping acks): kill -9 of the leader's
// agent and postmaster (the Raft leader on the same host or another), kill -9 of the postmaster alone
// (restart in place working, or failing because the data directory was made unreadable), kill -9 of
// the agent alone (systemd-style restart after a second; with fence.on_agent_death kill or not), and a
// frozen host (SIGSTOP of agent, fence and PostgreSQL). Shared by test/e2e/certain-death.test.ts
// (asserts) and bench/fence/certain-death.ts (measures, many trials).
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { defaultFenceDir } from '../../src/agent/fence/settings.js';
import { withAdminClient } from '../../src/raft/index.js';
import { postmasterPid, type TestCluster } from '../helpers/cluster.js';
import { pidGone, processesIn } from '../helpers/process.js';
import { LIVENESS_MS, sleep, waitUntil } from '../helpers/wait.js';
import { analyzeWrites, Writer, type WriteAnalysis } from '../helpers/writer.js';

export type Death =
  | 'kill-agent-and-postmaster'
  | 'kill-postmaster'
  | 'kill-postmaster-unreadable'
  | 'kill-agent'
  | 'freeze-host';

export interface DeathOptions {
  /** Where the Raft leader is when the fault comes (kill-agent-and-postmaster): the dying host or another. */
  raftLeader?: 'same' | 'other';
  /** kill-agent: the agent is started again this long after the kill (systemd's RestartSec). */
  restartAfterMs?: number;
  /** kill-agent: the restarted agent (and so its fence) runs with fence.on_agent_death: kill. */
  restartWithKillOption?: boolean;
  /** kill-agent: the dying agent's fence runs with fence.on_agent_death: kill (a failover is expected). */
  killOptionActive?: boolean;
  writerIntervalMs?: number;
  log?: (line: string) => void;
}

export interface DeathResult {
  death: Death;
  oldLeader: string;
  /** The member of the first commit after the event (the old leader itself when it restarted in place). */
  firstCommitOn: string | null;
  /** Event → first commit acknowledged (on another member, or on the old one once it is back). */
  timeToFirstCommitMs: number | null;
  /** Another member acknowledged a commit after the event. */
  failedOver: boolean;
  analysis: WriteAnalysis;
  /** The old leader's fence logged a release of the leader key during the run. */
  fenceReleased: boolean;
  /** The old leader is a streaming replica of the new primary (or the primary again, when it did not fail over). */
  rejoined: boolean;
  fenceLog: string;
}

export function fenceLogOf(dataDir: string): string {
  try {
    return readFileSync(path.join(defaultFenceDir(dataDir), 'fence.log'), 'utf8');
  } catch {
    // No log yet: the fence has said nothing.
    return '';
  }
}

/** Moves Raft leadership to `name`'s node (admin `transfer`, as `hactl raft transfer`). */
export async function moveRaftLeader(cluster: TestCluster, name: string): Promise<void> {
  const target = `${cluster.node(name).host}:${cluster.node(name).raftPort}`;
  const via = `${cluster.nodes[0]!.host}:${cluster.nodes[0]!.raftPort}`;
  await waitUntil(
    async () => {
      const status = await withAdminClient(target, {}, (c) => c.status());
      if (status.leader === target) return true;
      await withAdminClient(via, {}, (c) => c.transfer(target, 3000));
      return false;
    },
    { timeoutMs: LIVENESS_MS, intervalMs: 200, what: `Raft leadership on ${target}` },
  );
}

/** The fence's pid of a member (its pid file), or null. */
function fencePid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(path.join(defaultFenceDir(dataDir), 'fence.pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && !pidGone(pid) ? pid : null;
  } catch {
    // No pid file: no fence running for this member.
    return null;
  }
}

function signalAll(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // Exited meanwhile: nothing to signal.
    }
  }
}

/** Adds `fence: {on_agent_death: kill}` to a member's config file (read at the agent's next start). */
export function setOnAgentDeathKill(cluster: TestCluster, name: string): void {
  const file = cluster.node(name).configPath;
  const text = readFileSync(file, 'utf8');
  if (!/^fence:/m.test(text)) writeFileSync(file, `${text}\nfence:\n  on_agent_death: kill\n`, { mode: 0o600 });
}

export async function runDeath(cluster: TestCluster, death: Death, options: DeathOptions = {}): Promise<DeathResult> {
  const log = options.log ?? (() => {});
  const names = cluster.nodes.map((n) => n.name);
  const oldLeader = await cluster.waitForHealthy(names);
  const old = cluster.node(oldLeader);
  if (options.raftLeader) await moveRaftLeader(cluster, options.raftLeader === 'same' ? oldLeader : names.find((n) => n !== oldLeader)!);
  const targets = cluster.nodes.map((n) => ({ name: n.name, host: n.host, port: n.pgPort }));
  const writer = new Writer({ mode: 'every-member', targets, intervalMs: options.writerIntervalMs ?? 20, connectTimeoutMs: 1000, statementTimeoutMs: 2000 });
  await writer.ensureTable();
  writer.start();
  const agent = cluster.agents.get(oldLeader)!;
  const fenceLogBefore = fenceLogOf(old.dataDir).length;
  const frozen: number[] = [];
  let undone = false;
  const undo = () => {
    if (undone) return;
    undone = true;
    if (death === 'kill-postmaster-unreadable') chmodSync(old.dataDir, 0o700);
    if (death === 'freeze-host') {
      // The fence first: it wakes past its deadline and kills the stopped server (SIGKILL needs no
      // SIGCONT); the rest only once that happened (resumeRest), or a stopped backend would finish an
      // INSERT sent before the freeze — a VM pause resumes everything at once, the watchdog's case.
      const fence = fencePid(old.dataDir);
      if (fence !== null) signalAll([fence], 'SIGCONT');
    }
  };
  const resumeRest = async () => {
    if (death !== 'freeze-host') return;
    const pm = postmasterPid(old);
    await waitUntil(() => pm === null || pidGone(pm), { timeoutMs: 10_000, what: 'the fence to kill the frozen postmaster' }).catch(() => {});
    signalAll(frozen, 'SIGCONT');
  };
  try {
    await waitUntil(() => writer.acksOf(oldLeader).length >= 20, { timeoutMs: LIVENESS_MS, what: `acks on ${oldLeader}` });
    if (death === 'kill-agent' || death === 'kill-agent-and-postmaster') {
      // The agent dies right after a cycle, not while it renews: a renewal that lands in the store
      // before the agent re-armed the fence with it leaves the fence a claim one write old, which it
      // rightly refuses to delete (it cannot tell that write from its next incarnation's), and the
      // failover then waits for the lease (README, "Self-fencing"). The cycle line is written after
      // the renewal and the fence's ack; the next renewal is loop_wait away.
      await cluster.waitForCycles(oldLeader, 1, new RegExp(`INFO: no action\\. I am \\(${oldLeader}\\), the leader with the lock`));
    }
    const pm = postmasterPid(old);
    const oldProcesses = processesIn(old.dataDir);
    const eventAtMs = Date.now();
    log(`${death}: leader ${oldLeader}, event at ${new Date(eventAtMs).toISOString()}`);
    switch (death) {
      case 'kill-agent-and-postmaster':
        await cluster.killHard(oldLeader);
        break;
      case 'kill-postmaster-unreadable':
        chmodSync(old.dataDir, 0o000);
        if (pm !== null) signalAll([pm], 'SIGKILL');
        break;
      case 'kill-postmaster':
        if (pm !== null) signalAll([pm], 'SIGKILL');
        break;
      case 'kill-agent':
        agent.signal('SIGKILL');
        await agent.exited;
        await sleep(options.restartAfterMs ?? 1000);
        if (options.restartWithKillOption) setOnAgentDeathKill(cluster, oldLeader);
        cluster.startAgent(oldLeader);
        break;
      case 'freeze-host': {
        const fence = fencePid(old.dataDir);
        frozen.push(agent.pid, ...(fence === null ? [] : [fence]), ...processesIn(old.dataDir));
        signalAll(frozen, 'SIGSTOP');
        break;
      }
    }
    // kill-postmaster: backends outlive a killed postmaster for a moment and still acknowledge; the
    // restart is measured from the first commit sent once no process of the old server remains.
    let goneAtMs = eventAtMs;
    if (death === 'kill-postmaster') {
      await waitUntil(() => oldProcesses.every(pidGone), { timeoutMs: LIVENESS_MS, intervalMs: 10, what: 'the old server\'s processes to exit' }).catch(() => {});
      goneAtMs = Date.now();
    }
    const firstCommit = await waitUntil(
      () => writer.acks.find((a) => a.sentAtMs > goneAtMs && (a.member !== oldLeader || death === 'kill-postmaster' || (death === 'kill-agent' && !options.killOptionActive))),
      { timeoutMs: LIVENESS_MS, intervalMs: 20, what: 'a commit acknowledged after the event' },
    ).catch(() => null);
    log(`${death}: first commit on ${firstCommit?.member ?? '(none)'} after ${firstCommit ? firstCommit.ackedAtMs - eventAtMs : '-'} ms`);
    undo();
    await resumeRest();
    if (death === 'kill-agent-and-postmaster') cluster.startAgent(oldLeader);
    // kill-agent: the restarted agent resumes as leader (the lease held): wait for it to say so.
    if (death === 'kill-agent' && !options.killOptionActive) await cluster.waitForLog(oldLeader, new RegExp(`no action\\. I am \\(${oldLeader}\\), the leader with the lock`)).catch((err: Error) => log(err.message));
    let rejoined = false;
    try {
      await cluster.waitForHealthy(names);
      rejoined = true;
    } catch (err) {
      log(`${death}: cluster not healthy again: ${(err as Error).message}`);
    }
    const endedAt = Date.now();
    await waitUntil(() => writer.acks.filter((a) => a.ackedAtMs > endedAt).length >= 10, { timeoutMs: LIVENESS_MS, intervalMs: 50, what: 'commits after the cluster recovered' }).catch((err: Error) => log(`${death}: ${err.message}`));
    await writer.stop();
    const primaries = await cluster.primaries();
    const newTarget = targets.find((t) => t.name === primaries[0]);
    const rows = await writer.finalRows(newTarget);
    const analysis = analyzeWrites(writer.acks, rows, { eventAtMs, oldMember: oldLeader });
    const fenceLog = fenceLogOf(old.dataDir).slice(fenceLogBefore);
    const failedOver = writer.acks.some((a) => a.sentAtMs > eventAtMs && a.member !== oldLeader);
    return {
      death,
      oldLeader,
      firstCommitOn: firstCommit?.member ?? null,
      timeToFirstCommitMs: firstCommit ? firstCommit.ackedAtMs - eventAtMs : null,
      failedOver,
      analysis,
      fenceReleased: /released the leader key/.test(fenceLog),
      rejoined: rejoined && (failedOver ? primaries[0] !== oldLeader : primaries[0] === oldLeader),
      fenceLog,
    };
  } finally {
    await writer.stop().catch(() => {});
    undo();
    if (death === 'freeze-host') signalAll(frozen, 'SIGCONT');
  }
}

/** One line for logs and RESULTS.md. */
export function describeDeath(r: DeathResult): string {
  const s = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(2)} s`);
  return (
    `${r.death}: first commit on ${r.firstCommitOn ?? '-'} after ${s(r.timeToFirstCommitMs)}, ${r.failedOver ? 'failed over' : 'no failover'}, ` +
    `split brain ${r.analysis.splitBrainWindows.length} windows, lost ${r.analysis.missingAcked} of ${r.analysis.acked} acked, ` +
    `fence ${r.fenceReleased ? 'released the key' : 'did not release'}, old leader ${r.rejoined ? 'rejoined' : 'did NOT rejoin'}`
  );
}

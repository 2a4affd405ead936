/**
 * switchover/failover as run by the commands: show the topology, walk the dialogue of
 * switchover-plan.ts (asking only on a terminal), optionally wait for the candidate's lag, send
 * to the leader's agent, print the agent's answer and the new topology.
 */
import type { ClusterSnapshot } from '../client/index.js';
import type { ClusterCommand, ConnectionFlagValues } from './cluster-command.js';
import { Aborted } from './prompts.js';
import { prettyCluster } from './show-cluster.js';
import { resultTimestamp } from './schedule.js';
import { laggingCandidates, nextSwitchoverStep, type SwitchoverAnswers, type SwitchoverInputs, type SwitchoverKind } from './switchover-plan.js';

export interface SwitchoverFlags extends ConnectionFlagValues {
  primary?: string;
  candidate?: string;
  scheduled?: string;
  force: boolean;
  'wait-for-lag'?: number;
}

/** How long the agent may take: it answers once the switch is done (Patroni polls 2·max(10, loop_wait) s). */
const SWITCHOVER_TIMEOUT_SECONDS = 120;

export async function runSwitchover(cmd: ClusterCommand, kind: SwitchoverKind, flags: SwitchoverFlags, clusterArg?: string): Promise<void> {
  const client = await cmd.connect(flags, SWITCHOVER_TIMEOUT_SECONDS + (flags['wait-for-lag'] ?? 0));
  try {
    let snap = await client.cluster();
    cmd.checkClusterName(clusterArg, snap.cluster.scope);
    cmd.warnUnreachable();
    cmd.log('Current cluster topology');
    cmd.log(prettyCluster(cmd, snap, flags));

    const inputs: SwitchoverInputs = { kind, cluster: snap.cluster, primary: flags.primary, candidate: flags.candidate, scheduled: flags.scheduled, force: flags.force, now: new Date() };
    const answers: SwitchoverAnswers = {};
    const ask = cmd.prompter(kind);
    for (;;) {
      const step = nextSwitchoverStep(inputs, answers);
      if (step.step === 'error') throw new Aborted(step.message);
      if (step.step === 'send') {
        if (flags['wait-for-lag'] !== undefined && step.scheduledAt === null) {
          snap = await waitForLag(cmd, snap, step.candidate, flags['wait-for-lag']);
        }
        const reply = await client.switchover(kind, step.body, step.targets.length > 0 ? step.targets : client.targetsLeaderFirst(snap.cluster));
        cmd.log(`${resultTimestamp(new Date())} ${reply.text}`);
        const after = reply.status === 200 ? await settled(cmd, reply.text) : await client.cluster();
        cmd.log(prettyCluster(cmd, after, flags));
        return;
      }
      switch (step.step) {
        case 'ask-primary':
          answers.primary = await ask.input(step.message, step.default);
          break;
        case 'ask-candidate': {
          const choices = step.choices.map((c) => ({ name: c, value: c }));
          if (step.allowAny) choices.push({ name: '(any healthy member: the leader picks)', value: '' });
          answers.candidate = await ask.select(step.message, choices);
          break;
        }
        case 'ask-when':
          answers.when = await ask.input(step.message, step.default);
          break;
        case 'confirm-async':
          answers.asyncConfirmed = await ask.confirm(step.message, false);
          break;
        case 'confirm':
          answers.confirmed = await ask.confirm(step.message, false);
          break;
      }
    }
  } catch (err) {
    cmd.fail(err);
  }
}

/**
 * `--dry-run`: ask an agent (the leader's first) who would take over and why each other member
 * would not, print it, change nothing. Exit 0 when some member would take over, 1 when none would
 * (or the request would be refused), so scripts can gate a maintenance on it.
 */
export async function runDryRun(cmd: ClusterCommand, kind: SwitchoverKind, flags: SwitchoverFlags & { format?: string }, clusterArg?: string): Promise<void> {
  const client = await cmd.connect(flags);
  try {
    const snap = await client.cluster();
    cmd.checkClusterName(clusterArg, snap.cluster.scope);
    const body = await client.failoverCandidates(kind, flags.candidate ?? null, client.targetsLeaderFirst(snap.cluster));
    const [{ renderExplanation }, { normalizeFormat, renderedText }] = await Promise.all([import('./failover-explain.js'), import('./output.js')]);
    cmd.log(await renderedText(renderExplanation(body, { format: normalizeFormat(flags.format), colors: cmd.colors(flags) })));
    cmd.warnUnreachable();
    if (body.refusal || body.racers.length === 0) cmd.exit(1);
  } catch (err) {
    cmd.fail(err);
  }
}

/** DELETE /switchover on the leader's agent first: `Success: scheduled switchover deleted`. */
export async function cancelSwitchover(cmd: ClusterCommand, flags: ConnectionFlagValues, clusterArg?: string): Promise<void> {
  const client = await cmd.connect(flags);
  try {
    const snap = await client.cluster();
    cmd.checkClusterName(clusterArg, snap.cluster.scope);
    if (!snap.cluster.scheduled_switchover) throw new Aborted('No pending scheduled switchover');
    const reply = await client.cancelSwitchover(client.targetsLeaderFirst(snap.cluster));
    cmd.warnUnreachable();
    cmd.log(`Success: ${reply.text}`);
  } catch (err) {
    cmd.fail(err);
  }
}

/**
 * After `Successfully switched over to "x"` the member keys catch up within a loop: show the table
 * once x is listed as leader (bounded, so a slow refresh never hangs the command). Asked every 100 ms:
 * the new leader's key usually shows it within one of its cycles, and a 500 ms step added up to half
 * a second to every switchover command for nothing (one GET /cluster is cheap for the agent).
 */
async function settled(cmd: ClusterCommand, text: string): Promise<ClusterSnapshot> {
  const newLeader = /"([^"]+)"/.exec(text)?.[1] ?? null;
  const deadline = Date.now() + 10_000;
  let snap = await cmd.client.cluster();
  while (newLeader !== null && Date.now() < deadline) {
    const leader = snap.cluster.members.find((m) => m.role === 'leader' || m.role === 'standby_leader');
    if (leader?.name === newLeader && leader.state === 'running') break;
    await new Promise((r) => setTimeout(r, 100));
    snap = await cmd.client.cluster();
  }
  return snap;
}

/** --wait-for-lag: poll until the candidate (or any candidate) is within maximum_lag_on_failover. */
async function waitForLag(cmd: ClusterCommand, snap: ClusterSnapshot, candidate: string | null, seconds: number): Promise<ClusterSnapshot> {
  const config = await cmd.client.dynamicConfig().catch(() => ({}) as Record<string, unknown>);
  const maxLag = typeof config.maximum_lag_on_failover === 'number' ? config.maximum_lag_on_failover : 1048576;
  const deadline = Date.now() + seconds * 1000;
  let said = '';
  for (;;) {
    const lagging = laggingCandidates(snap.cluster, candidate, maxLag);
    if (lagging.length === 0) return snap;
    if (Date.now() >= deadline) {
      cmd.log(`${resultTimestamp(new Date())} still lagging after ${seconds} s; sending the request, the agent decides`);
      return snap;
    }
    const line = `Waiting for ${lagging.map((l) => `${l.name} (lag ${l.lagBytes === 'unknown' ? 'unknown' : `${(l.lagBytes / 1048576).toFixed(1)} MB`})`).join(', ')} to catch up within ${(maxLag / 1048576).toFixed(1)} MB`;
    if (line !== said) cmd.log(line);
    said = line;
    await new Promise((r) => setTimeout(r, 1000));
    snap = await cmd.client.cluster();
  }
}

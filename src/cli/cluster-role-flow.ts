/**
 * demote-cluster / promote-cluster (patronictl 4.1): turn a running cluster into a standby cluster
 * of another (PATCH /config `standby_cluster: {host, port, …}`), or back into an ordinary one
 * (`standby_cluster: null`), after showing the topology and asking; then watch, once a second, until
 * the leader runs in the asked role (demote: also the former leader runs again), printing the state
 * seen, within a bounded time.
 */
import type { ClusterClient } from '../client/index.js';
import type { ClusterCommand, ConnectionFlagValues } from './cluster-command.js';
import { Aborted } from './prompts.js';
import { prettyCluster, timestampLine } from './show-cluster.js';

/** How long the watch lasts before the command gives up (the agents go on regardless). */
const WATCH_LIMIT_MS = 300_000;

export interface ClusterRoleFlags extends ConnectionFlagValues {
  force: boolean;
}

/** `standby`: the standby_cluster section to apply (demote), or null (promote). */
export async function runClusterRole(cmd: ClusterCommand, standby: Record<string, string | number> | null, flags: ClusterRoleFlags, clusterArg?: string): Promise<void> {
  const demote = standby !== null;
  const verb = demote ? 'demote' : 'promote';
  const target = demote ? 'standby_leader' : 'primary';
  const client = await cmd.connect(flags);
  try {
    const snap = await client.cluster();
    cmd.checkClusterName(clusterArg, snap.cluster.scope);
    cmd.warnUnreachable();
    const scope = snap.cluster.scope;
    const leader = snap.cluster.members.find((m) => m.role === 'leader' || m.role === 'standby_leader');
    if (!leader) throw new Aborted(`Cluster has no leader, ${verb}ion is not possible`);
    const leaderStatus = await client.memberStatus(leader);
    if (leaderStatus.role === target) throw new Aborted('Cluster is already in the required state');
    cmd.log('Current cluster topology');
    cmd.log(prettyCluster(cmd, snap, flags));
    if (!flags.force && !(await cmd.prompter(`${verb} the cluster`).confirm(`Are you sure you want to ${verb} ${scope} cluster?`))) {
      throw new Aborted(`Aborted cluster ${verb}ion`);
    }
    try {
      await client.patchConfig({ standby_cluster: standby }, client.targetsLeaderFirst(snap.cluster));
    } catch (err) {
      throw new Error(`Failed to ${verb} ${scope} cluster: ${(err as Error).message}`);
    }
    const deadline = Date.now() + WATCH_LIMIT_MS;
    let last = '';
    for (;;) {
      const seen = await observe(client, leader.name, target);
      if (seen.done) {
        cmd.log(`${timestampLine(new Date())} cluster is successfully ${verb}d`);
        break;
      }
      if (seen.line !== last) cmd.log(`${timestampLine(new Date())} ${seen.line}`);
      last = seen.line;
      if (Date.now() > deadline) throw new Error(`cluster was not ${verb}d within ${WATCH_LIMIT_MS / 1000} s; last seen: ${seen.line}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    cmd.log(prettyCluster(cmd, await client.cluster(), flags));
  } catch (err) {
    cmd.fail(err);
  }
}

/** One look at the cluster: done when the leader runs as `target` (and, demoting, the former leader runs). */
async function observe(client: ClusterClient, formerLeader: string, target: string): Promise<{ done: boolean; line: string }> {
  let members;
  try {
    members = (await client.cluster()).cluster.members;
  } catch (err) {
    return { done: false, line: `cluster state unknown: ${(err as Error).message}` };
  }
  const leader = members.find((m) => m.role === 'leader' || m.role === 'standby_leader');
  const status = leader ? await client.memberStatus(leader).catch(() => null) : null;
  const former = members.find((m) => m.name === formerLeader);
  // GET /cluster says `streaming` for a replica; the agent's own state (GET /patroni) is what Patroni's member key holds.
  const formerStatus = former && former.name !== leader?.name ? await client.memberStatus(former).catch(() => null) : status;
  const parts = [`cluster is unlocked: ${leader ? 'False' : 'True'}`, `leader role: ${status?.role ?? 'None'}`, `leader state: ${status?.state ?? 'None'}`];
  if (leader && former && leader.name !== formerLeader) parts.push(`previous leader state: '${formerStatus?.state ?? 'unknown'}'`);
  const leaderDone = status?.role === target && status.state === 'running';
  const formerDone = target !== 'standby_leader' || formerStatus?.state === 'running';
  return { done: leaderDone && formerDone, line: parts.join(', ') };
}

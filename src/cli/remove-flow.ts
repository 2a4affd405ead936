/**
 * remove: wipe a cluster's keys from the Raft store, after the operator has typed the cluster name,
 * "Yes I am aware" and, if the cluster still has a leader, its name (patronictl's three guards).
 * Meant for a cluster whose agents are stopped; running agents would write their keys again.
 */
import type { ClusterSnapshot } from '../client/index.js';
import type { ClusterCommand, ConnectionFlagValues } from './cluster-command.js';
import { isLeader } from './cluster-table.js';
import { Aborted } from './prompts.js';
import { prettyCluster } from './show-cluster.js';

export async function runRemove(cmd: ClusterCommand, clusterName: string, flags: ConnectionFlagValues & { force: boolean }): Promise<void> {
  const client = await cmd.connect(flags);
  try {
    let snap: ClusterSnapshot | null = null;
    try {
      snap = await client.cluster();
    } catch (err) {
      if ((err as Error).name !== 'NoAgentReachable') throw err;
      cmd.log('No agent answered: the cluster\'s agents look stopped.');
    }
    if (snap) {
      if (snap.cluster.scope !== clusterName) throw new Aborted(`cluster ${clusterName} not found: the agents serve cluster ${snap.cluster.scope}`);
      cmd.log(prettyCluster(cmd, snap, flags));
    }
    if (!flags.force) {
      const ask = cmd.prompter('remove the cluster');
      if ((await ask.input('Please confirm the cluster name to remove:')) !== clusterName) throw new Aborted('Cluster names specified do not match');
      const aware = await ask.input(`You are about to remove all information in the Raft store for ${clusterName}, please type: "Yes I am aware":`);
      if (aware !== 'Yes I am aware') throw new Aborted('You did not exactly type "Yes I am aware"');
      const leader = snap?.cluster.members.find(isLeader);
      if (leader && leader.state === 'running') {
        const named = await ask.input('This cluster currently is healthy. Please specify the leader name to continue:');
        if (named !== leader.name) throw new Aborted('You did not specify the current leader of the cluster');
      }
    }
    const { removeClusterKeys } = await import('../client/raft-store.js');
    const s = cmd.settings;
    const result = await removeClusterKeys({ addrs: s.raft.addrs, password: s.raft.password, namespace: s.namespace, scope: clusterName });
    cmd.log(`Success: removed ${result.deleted} keys of cluster ${clusterName} (through the Raft node ${result.via})`);
    if (snap && snap.cluster.members.length > 0) {
      process.stderr.write('Warning: agents of this cluster are still running; stop them, or they will write their keys again\n');
    }
  } catch (err) {
    cmd.fail(err);
  }
}

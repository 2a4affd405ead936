import { Args } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags, forceFlag } from '../cli/cluster-flags.js';

export default class PromoteCluster extends ClusterCommand {
  static override summary = 'Turn a standby cluster into an ordinary one: its standby leader promotes (patronictl promote-cluster).';
  static override description =
    'Removes the dynamic standby_cluster section (PATCH /config) after showing the topology and asking. The standby leader ' +
    'stops replicating from the remote and promotes; the other members keep following it. Waits, printing what it sees every ' +
    'second, until the leader runs as primary. The remote cluster is not touched: demote it (demote-cluster) if it must follow this one.';
  static override examples = [
    { description: 'Promote the standby cluster this host belongs to', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Without questions (scripts)', command: '<%= config.bin %> <%= command.id %> dr --force' },
  ];
  static override args = {
    cluster: Args.string({ ignoreStdin: true, description: 'Cluster name (scope); checked against the agents\' answer.', required: false }),
  };
  static override flags = { ...connectionFlags, ...forceFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(PromoteCluster);
    const { runClusterRole } = await import('../cli/cluster-role-flow.js');
    await runClusterRole(this, null, flags, args.cluster);
  }
}

import { Args, Flags } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags, forceFlag } from '../cli/cluster-flags.js';

export default class Failover extends ClusterCommand {
  static override summary = 'Promote a given replica, also when the cluster has no healthy leader.';
  static override description =
    'For a cluster without a working leader, or to force a specific candidate. Shows the topology, asks for the candidate and ' +
    'a confirmation, then asks an agent (the leader\'s if there is one, else the candidate\'s). In synchronous mode a failover to ' +
    'an asynchronous member asks once more. A refusal prints the agent\'s reason and exits 1.';
  static override examples = [
    { description: 'Interactive', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'From a script', command: '<%= config.bin %> <%= command.id %> --candidate node3 --force' },
  ];
  static override args = {
    cluster: Args.string({ ignoreStdin: true, description: 'Cluster name (scope); checked against the agents\' answer.', required: false }),
  };
  static override flags = {
    ...connectionFlags,
    ...forceFlag,
    candidate: Flags.string({ summary: 'The member to promote (required with --force).', helpValue: 'NAME' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Failover);
    const { runSwitchover } = await import('../cli/switchover-flow.js');
    await runSwitchover(this, 'failover', flags, args.cluster);
  }
}

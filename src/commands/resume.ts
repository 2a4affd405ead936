import { Args, Flags } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags } from '../cli/cluster-flags.js';

export default class Resume extends ClusterCommand {
  static override summary = 'Leave maintenance mode: agents act on the cluster again.';
  static override description = 'Automatic failover and the other HA actions resume within one loop_wait. Undo of pause.';
  static override examples = [
    { description: 'Resume the cluster this host belongs to', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Resume, and wait until every agent has noticed', command: '<%= config.bin %> <%= command.id %> --wait' },
  ];
  static override args = {
    cluster: Args.string({ ignoreStdin: true, description: 'Cluster name (scope); checked against the agents\' answer.', required: false }),
  };
  static override flags = {
    ...connectionFlags,
    wait: Flags.boolean({ summary: 'Wait until every member reports the new state.', default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Resume);
    const { runPause } = await import('../cli/pause-flow.js');
    await runPause(this, false, flags, args.cluster);
  }
}

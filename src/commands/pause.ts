import { Args, Flags } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags } from '../cli/cluster-flags.js';

export default class Pause extends ClusterCommand {
  static override summary = 'Put the cluster in maintenance mode: agents keep reporting but take no automatic action.';
  static override description = 'While paused, no failover happens and agents do not start, stop or promote PostgreSQL on their own: for planned work on PostgreSQL or the hosts. list shows "Maintenance mode: on". Undo with resume.';
  static override examples = [
    { description: 'Pause the cluster this host belongs to', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Pause, and wait until every agent has noticed', command: '<%= config.bin %> <%= command.id %> --wait' },
  ];
  static override args = {
    cluster: Args.string({ ignoreStdin: true, description: 'Cluster name (scope); checked against the agents\' answer.', required: false }),
  };
  static override flags = {
    ...connectionFlags,
    wait: Flags.boolean({ summary: 'Wait until every member reports the new state.', default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Pause);
    const { runPause } = await import('../cli/pause-flow.js');
    await runPause(this, true, flags, args.cluster);
  }
}

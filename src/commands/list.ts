import { Args } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags, extendedFlag, formatFlag, watchFlag } from '../cli/cluster-flags.js';

export default class List extends ClusterCommand {
  static override summary = 'Show the members of the cluster: role, state, timeline and lag (patronictl list).';
  static override description =
    'Asks the agents (the config file\'s REST addresses, or --api) for the cluster view and prints one row per member: ' +
    'Member, Host, Role, State, TL, Lag in MB; with -e also Pending restart, Scheduled restart, Tags, and each member\'s ' +
    'Fence (off, on, armed with the time left on its deadline, paused, dead, fenced) and Watchdog (off, idle, active with ' +
    'its timeout, failed) as of its last member-key write. The top border ' +
    'names the cluster and its system identifier; maintenance mode and a scheduled switchover are shown below. ' +
    'Agents that do not answer are reported on stderr and the next one is asked.';
  static override examples = [
    { description: 'The cluster this host belongs to', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Ask given agents, with the extra columns', command: '<%= config.bin %> <%= command.id %> --api http://db1:8008,http://db2:8008 -e' },
    { description: 'Refresh every second during a switchover', command: '<%= config.bin %> <%= command.id %> -W 1' },
    { description: 'For scripts', command: '<%= config.bin %> <%= command.id %> -f json' },
  ];
  static override args = {
    cluster: Args.string({ ignoreStdin: true, description: 'Cluster name (scope); checked against the agents\' answer.', required: false }),
  };
  static override flags = { ...connectionFlags, ...formatFlag, ...extendedFlag, ...watchFlag };

  async run(): Promise<void> {
    const { normalizeWatchArgv } = await import('../cli/watch.js');
    const { args, flags } = await this.parse(List, normalizeWatchArgv(this.argv));
    const { showCluster } = await import('../cli/show-cluster.js');
    await showCluster(this, flags, { cluster: args.cluster, topology: false });
  }
}

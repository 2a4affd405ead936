import { Args } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags, extendedFlag, watchFlag } from '../cli/cluster-flags.js';

export default class Topology extends ClusterCommand {
  static override summary = 'Show the members as a tree: each replica under the member it replicates from.';
  static override description =
    'The same columns as list; replicas are indented under the leader, or under the replica named by their replicatefrom tag ' +
    '(cascading replication), prefixed with "+ ".';
  static override examples = [
    { description: 'The tree of this host\'s cluster', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Watch it every 2 seconds', command: '<%= config.bin %> <%= command.id %> -W' },
  ];
  static override args = {
    cluster: Args.string({ ignoreStdin: true, description: 'Cluster name (scope); checked against the agents\' answer.', required: false }),
  };
  static override flags = { ...connectionFlags, ...extendedFlag, ...watchFlag };

  async run(): Promise<void> {
    const { normalizeWatchArgv } = await import('../cli/watch.js');
    const { args, flags } = await this.parse(Topology, normalizeWatchArgv(this.argv));
    const { showCluster } = await import('../cli/show-cluster.js');
    await showCluster(this, { ...flags, format: 'pretty' }, { cluster: args.cluster, topology: true });
  }
}

import { Args } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags, forceFlag } from '../cli/cluster-flags.js';

export default class Remove extends ClusterCommand {
  static override summary = 'Wipe a cluster\'s state from the Raft store (after its agents are stopped).';
  static override description =
    'Deletes every key of the cluster (/<namespace>/<scope>/: leader, members, config, history, initialize, …) through the ' +
    'Raft port named in the config file (raft.self_addr, raft.partner_addrs, raft.password or HACTL_RAFT_PASSWORD). PostgreSQL ' +
    'data directories are not touched. Asks to type the cluster name, then "Yes I am aware", then the leader\'s name if the ' +
    'cluster still has a running leader; --force skips the questions (for teardown scripts only).';
  static override examples = [
    { description: 'Interactive, with this host\'s config', command: '<%= config.bin %> <%= command.id %> demo -c /etc/ha.yml' },
  ];
  static override args = {
    cluster: Args.string({ ignoreStdin: true, description: 'Name (scope) of the cluster to wipe.', required: true }),
  };
  static override flags = { ...connectionFlags, ...forceFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Remove);
    const { runRemove } = await import('../cli/remove-flow.js');
    await runRemove(this, args.cluster, flags);
  }
}

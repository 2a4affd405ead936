import { Args, Flags } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags, forceFlag } from '../cli/cluster-flags.js';

export default class DemoteCluster extends ClusterCommand {
  static override summary = 'Turn the cluster into a standby cluster of another one (patronictl demote-cluster).';
  static override description =
    'Sets the dynamic standby_cluster section (PATCH /config) after showing the topology and asking. The leader stops PostgreSQL, ' +
    'keeps the leader key and starts again as the standby leader, replicating from --host/--port (or restoring WAL with ' +
    '--restore-command); the other members follow it. Waits, printing what it sees every second, until the leader runs as ' +
    'standby leader and the former leader runs again. Undo with promote-cluster.';
  static override examples = [
    { description: 'Make this cluster a standby of the primary at 10.0.1.5:5432', command: '<%= config.bin %> <%= command.id %> --host 10.0.1.5 --port 5432' },
    { description: 'Without questions, streaming through a slot on the remote', command: '<%= config.bin %> <%= command.id %> demo --host 10.0.1.5 --primary-slot-name dr_site --force' },
  ];
  static override args = {
    cluster: Args.string({ ignoreStdin: true, description: 'Cluster name (scope); checked against the agents\' answer.', required: false }),
  };
  static override flags = {
    ...connectionFlags,
    ...forceFlag,
    host: Flags.string({ summary: 'Address of the remote node to replicate from.' }),
    port: Flags.integer({ summary: 'Port of the remote node.', min: 1, max: 65535 }),
    'restore-command': Flags.string({ summary: 'Command to restore WAL records from the remote primary\'s archive.' }),
    'primary-slot-name': Flags.string({ summary: 'Name of the slot on the remote node to replicate through.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(DemoteCluster);
    if (flags.host === undefined && flags.port === undefined && flags['restore-command'] === undefined) {
      this.fail(new Error('At least --host, --port or --restore-command should be specified'));
    }
    const standby: Record<string, string | number> = {};
    if (flags.host !== undefined) standby.host = flags.host;
    if (flags.port !== undefined) standby.port = flags.port;
    if (flags['primary-slot-name'] !== undefined) standby.primary_slot_name = flags['primary-slot-name'];
    if (flags['restore-command'] !== undefined) standby.restore_command = flags['restore-command'];
    const { runClusterRole } = await import('../cli/cluster-role-flow.js');
    await runClusterRole(this, standby, flags, args.cluster);
  }
}

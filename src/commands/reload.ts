import { Args, Flags } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags, forceFlag } from '../cli/cluster-flags.js';
import { ROLE_FILTERS } from '../cli/member-select.js';

export default class Reload extends ClusterCommand {
  static override summary = 'Make agents re-read their configuration and reload PostgreSQL (like SIGHUP).';
  static override description =
    'Without member names every member matching --role is asked. Each agent re-reads its config file and reloads ' +
    'PostgreSQL within one loop_wait. A leading cluster name (patronictl\'s "reload CLUSTER") is accepted.';
  static override examples = [
    { description: 'All members', command: '<%= config.bin %> <%= command.id %> --force' },
    { description: 'Only the replicas, asking first', command: '<%= config.bin %> <%= command.id %> --role replica' },
  ];
  static override strict = false;
  static override args = {
    members: Args.string({ ignoreStdin: true, description: 'Members to reload (default: all matching --role).', required: false }),
  };
  static override flags = {
    ...connectionFlags,
    ...forceFlag,
    role: Flags.string({ char: 'r', summary: 'Only members with this role.', options: [...ROLE_FILTERS] }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Reload);
    const { runReload } = await import('../cli/member-flow.js');
    await runReload(this, flags, argv as string[]);
  }
}

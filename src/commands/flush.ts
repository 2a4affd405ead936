import { Args, Flags } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags } from '../cli/cluster-flags.js';
import { ROLE_FILTERS } from '../cli/member-select.js';

export default class Flush extends ClusterCommand {
  static override summary = 'Drop scheduled restarts or the scheduled switchover (patronictl flush).';
  static override description =
    'The last argument says what: "restart" deletes the scheduled restart of the named members (default: every member ' +
    'matching --role), "switchover" the scheduled switchover. A leading cluster name is accepted, as patronictl writes it. ' +
    'Members with nothing scheduled are reported, not an error.';
  static override examples = [
    { description: 'Cancel every scheduled restart', command: '<%= config.bin %> <%= command.id %> restart' },
    { description: 'patronictl\'s form, for two members', command: '<%= config.bin %> <%= command.id %> batman node2 node3 restart' },
    { description: 'Cancel the scheduled switchover', command: '<%= config.bin %> <%= command.id %> switchover' },
  ];
  static override strict = false;
  static override args = {
    target: Args.string({ ignoreStdin: true, description: '[CLUSTER] [MEMBER…] restart|switchover', required: true }),
  };
  static override flags = {
    ...connectionFlags,
    role: Flags.string({ char: 'r', summary: 'With restart: only members with this role.', options: [...ROLE_FILTERS] }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Flush);
    const { runFlush } = await import('../cli/flush-flow.js');
    await runFlush(this, flags, argv as string[]);
  }
}

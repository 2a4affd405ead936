import { Args, Flags } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags, forceFlag } from '../cli/cluster-flags.js';

export default class Reinit extends ClusterCommand {
  static override summary = 'Rebuild replicas from scratch: stop, wipe the data directory, take a new base backup, follow.';
  static override description =
    'For a replica that cannot follow any more (diverged timeline, corrupted data). The base backup asks the source for a ' +
    'fast checkpoint by default: Patroni\'s default spread checkpoint made a reinit of a 100 MB database take 216 s instead ' +
    'of 4.5 s; set postgresql.basebackup checkpoint: spread to spare the primary\'s I/O instead. With --wait the command ' +
    'shows the progress until the member streams again. Only replicas can be reinitialized. A leading cluster name ' +
    '(patronictl\'s "reinit CLUSTER MEMBER…") is accepted.';
  static override examples = [
    { description: 'Rebuild node3 and wait until it streams again', command: '<%= config.bin %> <%= command.id %> node3 --wait' },
    { description: 'From a script, cancelling a reinit already running, copying from the leader', command: '<%= config.bin %> <%= command.id %> node3 --force --from-leader' },
  ];
  static override strict = false;
  static override args = {
    members: Args.string({ ignoreStdin: true, description: 'Replicas to reinitialize (asked for on a terminal when omitted).', required: false }),
  };
  static override flags = {
    ...connectionFlags,
    ...forceFlag,
    wait: Flags.boolean({ summary: 'Wait until the members run and stream again, showing progress.', default: false }),
    'from-leader': Flags.boolean({ summary: 'Copy from the leader even if a clonefrom replica exists.', default: false }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Reinit);
    const { runReinit } = await import('../cli/member-flow.js');
    await runReinit(this, flags, argv as string[]);
  }
}

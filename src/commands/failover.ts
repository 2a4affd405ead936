import { Args, Flags } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags, forceFlag, formatFlag } from '../cli/cluster-flags.js';

export default class Failover extends ClusterCommand {
  static override summary = 'Promote a given replica, also when the cluster has no healthy leader.';
  static override description =
    'For a cluster without a working leader, or to force a specific candidate. Shows the topology, asks for the candidate and ' +
    'a confirmation, then asks an agent (the leader\'s if there is one, else the candidate\'s). In synchronous mode a failover to ' +
    'an asynchronous member asks once more. A refusal prints the agent\'s reason, with one line per member saying why it could ' +
    'not take over, and exits 1. --dry-run changes nothing: it says which member would take the leader key (if the leader ' +
    'failed now, or for a failover to --candidate) and, for every other member, why not (lag against maximum_lag_on_failover, ' +
    'nofailover / failover_priority, timeline, unreachable, synchronous mode, fence, pause); exit 1 when no member would.';
  static override examples = [
    { description: 'Interactive', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'From a script', command: '<%= config.bin %> <%= command.id %> --candidate node3 --force' },
    { description: 'Who would take over if the leader failed now, and why not the others', command: '<%= config.bin %> <%= command.id %> --dry-run' },
    { description: 'Would a failover to node3 work? (json for scripts)', command: '<%= config.bin %> <%= command.id %> --dry-run --candidate node3 -f json' },
  ];
  static override args = {
    cluster: Args.string({ ignoreStdin: true, description: 'Cluster name (scope); checked against the agents\' answer.', required: false }),
  };
  static override flags = {
    ...connectionFlags,
    ...forceFlag,
    candidate: Flags.string({ summary: 'The member to promote (required with --force).', helpValue: 'NAME' }),
    'dry-run': Flags.boolean({ summary: 'Change nothing: say which member would take over and why each other one would not.', default: false }),
    ...formatFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Failover);
    const { runDryRun, runSwitchover } = await import('../cli/switchover-flow.js');
    if (flags['dry-run']) await runDryRun(this, 'failover', flags, args.cluster);
    else await runSwitchover(this, 'failover', flags, args.cluster);
  }
}

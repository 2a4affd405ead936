import { Args, Flags } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags, forceFlag, formatFlag } from '../cli/cluster-flags.js';

export default class Switchover extends ClusterCommand {
  static override summary = 'Hand the primary role to a healthy replica, now or at a scheduled time.';
  static override description =
    'Shows the current topology, asks for the primary, the candidate (or any healthy member), when, and a confirmation ' +
    '("Are you sure you want to switchover cluster X, demoting current leader Y?"), then asks the leader\'s agent. The leader ' +
    'demotes cleanly and hands over; the command prints the agent\'s answer and the new topology. A refusal (e.g. the candidate ' +
    'exceeds maximum_lag_on_failover) prints the agent\'s reason and exits 1. Without a terminal, --force is required; ' +
    'with --force, missing answers take their defaults (current leader, any candidate, now). --dry-run changes nothing: it ' +
    'says whether the leader would hand over (to --candidate, or to whom) and why each other member could not take over; ' +
    'exit 1 when no member could.';
  static override examples = [
    { description: 'Interactive', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'From a script, to a given member', command: '<%= config.bin %> <%= command.id %> --candidate node2 --force' },
    { description: 'Tonight at 02:00 local time', command: '<%= config.bin %> <%= command.id %> --candidate node2 --scheduled "2026-12-01 02:00" --force' },
    { description: 'Cancel the scheduled switchover', command: '<%= config.bin %> <%= command.id %> --cancel' },
    { description: 'Check first: who would take over, and why not the others', command: '<%= config.bin %> <%= command.id %> --dry-run --candidate node2' },
    { description: 'Wait up to 60 s for the candidate to catch up instead of being refused', command: '<%= config.bin %> <%= command.id %> --candidate node2 --wait-for-lag 60 --force' },
  ];
  static override args = {
    cluster: Args.string({ ignoreStdin: true, description: 'Cluster name (scope); checked against the agents\' answer.', required: false }),
  };
  static override flags = {
    ...connectionFlags,
    ...forceFlag,
    primary: Flags.string({ summary: 'The current leader (a safety check: refused if it is not).', aliases: ['leader'], helpValue: 'NAME' }),
    candidate: Flags.string({ summary: 'The member to promote; default: the leader picks a healthy one.', helpValue: 'NAME' }),
    scheduled: Flags.string({ summary: 'When: "now" or a timestamp (ISO 8601; local time if no zone).', helpValue: 'TIME' }),
    cancel: Flags.boolean({ summary: 'Cancel a scheduled switchover instead (patronictl flush CLUSTER switchover).', default: false, exclusive: ['candidate', 'scheduled', 'primary'] }),
    'wait-for-lag': Flags.integer({ summary: 'Wait up to SECONDS for the candidate to be within maximum_lag_on_failover before asking.', min: 1, helpValue: 'SECONDS' }),
    'dry-run': Flags.boolean({ summary: 'Change nothing: say who would take over and why each other member would not.', default: false, exclusive: ['cancel', 'scheduled'] }),
    ...formatFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Switchover);
    const { cancelSwitchover, runDryRun, runSwitchover } = await import('../cli/switchover-flow.js');
    if (flags['dry-run']) await runDryRun(this, 'switchover', flags, args.cluster);
    else if (flags.cancel) await cancelSwitchover(this, flags, args.cluster);
    else await runSwitchover(this, 'switchover', flags, args.cluster);
  }
}

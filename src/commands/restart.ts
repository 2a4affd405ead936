import { Args, Flags } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags, forceFlag } from '../cli/cluster-flags.js';
import { ROLE_FILTERS } from '../cli/member-select.js';

export default class Restart extends ClusterCommand {
  static override summary = 'Restart PostgreSQL on members, now or at a scheduled time.';
  static override description =
    'Without member names every member matching --role is restarted. Each member\'s agent restarts its own PostgreSQL and ' +
    'answers once it is up again. --pending restarts only members whose parameter changes need a restart. A leading ' +
    'cluster name (patronictl\'s "restart CLUSTER MEMBER…") is accepted. A member whose PostgreSQL is not running is ' +
    'started, in the role it stopped in, as Patroni does; one that would come up as a primary only while it holds the leader key.';
  static override examples = [
    { description: 'Restart one replica', command: '<%= config.bin %> <%= command.id %> node2 --force' },
    { description: 'Apply parameter changes that need a restart, everywhere', command: '<%= config.bin %> <%= command.id %> --pending --force' },
    { description: 'Restart one replica, whichever', command: '<%= config.bin %> <%= command.id %> --role replica --any --force' },
    { description: 'Restart the replicas tonight', command: '<%= config.bin %> <%= command.id %> --role replica --scheduled "2026-12-01 02:00" --force' },
  ];
  static override strict = false;
  static override args = {
    members: Args.string({ ignoreStdin: true, description: 'Members to restart (default: all matching --role).', required: false }),
  };
  static override flags = {
    ...connectionFlags,
    ...forceFlag,
    role: Flags.string({ char: 'r', summary: 'Only members with this role.', options: [...ROLE_FILTERS] }),
    pending: Flags.boolean({ summary: 'Only members with a pending restart.', default: false }),
    any: Flags.boolean({ summary: 'Restart one member only, chosen at random among those matching.', default: false }),
    scheduled: Flags.string({ summary: 'When: "now" or a timestamp (ISO 8601; local time if no zone).', helpValue: 'TIME' }),
    'pg-version': Flags.string({ summary: 'Restart only if the running PostgreSQL version is lower (e.g. 16.4).', helpValue: 'VERSION' }),
    'start-timeout': Flags.integer({ summary: 'Seconds to wait for PostgreSQL to start (overrides primary_start_timeout).', min: 1, helpValue: 'SECONDS' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Restart);
    const { runRestart } = await import('../cli/member-flow.js');
    await runRestart(this, flags, argv as string[]);
  }
}

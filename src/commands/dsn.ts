import { Args, Flags } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags } from '../cli/cluster-flags.js';

export default class Dsn extends ClusterCommand {
  static override summary = 'Print a libpq connection string (host=… port=…) for a member or a role.';
  static override description = 'By default the leader\'s. Use it as psql "$(hactl dsn) dbname=app user=app".';
  static override examples = [
    { description: 'The primary', command: 'psql "$(<%= config.bin %> <%= command.id %>) dbname=postgres"' },
    { description: 'Any replica', command: '<%= config.bin %> <%= command.id %> --role replica' },
    { description: 'A given member', command: '<%= config.bin %> <%= command.id %> node2' },
    { description: 'The same, as patronictl writes it', command: '<%= config.bin %> <%= command.id %> -m node2' },
  ];
  static override args = {
    member: Args.string({ ignoreStdin: true, description: 'Member name (exclusive with --role).', required: false }),
  };
  static override flags = {
    ...connectionFlags,
    member: Flags.string({ char: 'm', summary: 'The member to connect to (patronictl dsn -m; same as the MEMBER argument).' }),
    role: Flags.string({ char: 'r', summary: 'Pick a member with this role (default: the leader).', options: ['leader', 'primary', 'standby-leader', 'replica', 'standby', 'any'] }),
    cluster: Flags.string({ summary: 'Cluster name (scope); checked against the agents\' answer.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Dsn);
    if (args.member && flags.member && args.member !== flags.member) this.fail(new Error('give the member either as MEMBER or with -m, not both'));
    const member = args.member ?? flags.member;
    if (member && flags.role) this.fail(new Error('--role and MEMBER are mutually exclusive'));
    const { matchesRole } = await import('../cli/member-select.js');
    const client = await this.connect(flags);
    const snap = await client.cluster().catch((err: unknown) => this.fail(err));
    this.checkClusterName(flags.cluster, snap.cluster.scope);
    this.warnUnreachable();
    const role = (flags.role ?? 'leader') as Parameters<typeof matchesRole>[1];
    // A running member is preferred; among replicas the least lagging one.
    const candidates = snap.cluster.members
      .filter((m) => (member ? m.name === member : matchesRole(m, role)) && m.host)
      .sort((a, b) => Number(b.state === 'running' || b.state === 'streaming') - Number(a.state === 'running' || a.state === 'streaming') || lagOf(a) - lagOf(b));
    const m = candidates[0];
    if (!m) this.fail(new Error(member ? `${member} is not a member of cluster ${snap.cluster.scope}` : 'Can not find a suitable member'));
    this.log(`host=${m!.host} port=${m!.port ?? 5432}`);
  }
}

function lagOf(m: { lag?: number | 'unknown' }): number {
  return typeof m.lag === 'number' ? m.lag : Number.MAX_SAFE_INTEGER;
}

import { Args } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags } from '../cli/cluster-flags.js';

export default class Version extends ClusterCommand {
  static override summary = 'Print the CLI version and, with a cluster at hand, each agent\'s hactl and PostgreSQL version.';
  static override description = 'Without an agent to ask (no -c/--api and no /etc/ha.yml) only the CLI version is printed.';
  static override examples = [
    { description: 'CLI and every member', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Only some members', command: '<%= config.bin %> <%= command.id %> demo node1 node2' },
  ];
  static override strict = false;
  static override args = {
    members: Args.string({ ignoreStdin: true, description: 'Members to ask (default: all); a leading cluster name is accepted.', required: false }),
  };
  static override flags = { ...connectionFlags };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Version);
    this.log(`hactl version ${this.config.version}`);
    const client = await this.connect(flags);
    if (this.settings.agents.length === 0) return;
    const snap = await client.cluster().catch((err: unknown) => this.fail(err));
    const { splitClusterArg } = await import('../cli/member-flow.js');
    const { members: names } = splitClusterArg(argv as string[], snap.cluster.scope);
    const members = snap.cluster.members.filter((m) => names.length === 0 || names.includes(m.name));
    const lines = await Promise.all(
      members.map(async (m) => {
        try {
          const s = await client.memberStatus(m);
          const pg = s.server_version ? ` PostgreSQL ${pgVersion(s.server_version)}` : '';
          return `${m.name}: hactl ${s.patroni?.version ?? 'unknown'}${pg}`;
        } catch (err) {
          return `${m.name}: failed to get version: ${(err as Error).message}`;
        }
      }),
    );
    this.log('');
    for (const l of lines) this.log(l);
  }
}

/** 150020 → 15.20, 90624 → 9.6.24 (PostgreSQL's server_version_num). */
function pgVersion(num: number): string {
  if (num >= 100000) return `${Math.floor(num / 10000)}.${num % 10000}`;
  return `${Math.floor(num / 10000)}.${Math.floor(num / 100) % 100}.${num % 100}`;
}

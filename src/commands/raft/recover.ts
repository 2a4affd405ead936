import { Command, Flags } from '@oclif/core';

export default class RaftRecover extends Command {
  static override summary = 'Bring back a member whose Raft data directory is damaged, as a learner that votes again only once caught up.';
  static override description =
    'Run it with the member stopped, when it refuses to start with "refusing to start … hactl raft recover". The damaged files move to ' +
    'damaged-<time>/ inside the data directory, and a fresh voter file keeps the highest term found (on disk and reported by the running ' +
    'members) with the vote of that term marked as lost. Started again, the member does not vote: it asks the leader to demote it to ' +
    'learner, catches up, and votes again once the leader promotes it. Needs a running quorum of the other members. Does nothing when ' +
    'the directory loads cleanly, unless --force.';
  static override examples = [
    { description: 'From the raft: section of the member\'s config (data_dir, partner_addrs, password)', command: '<%= config.bin %> <%= command.id %> -c /etc/hactl/ha.yml' },
    { description: 'A witness, giving the directory and the members to ask for the current term', command: 'HACTL_RAFT_PASSWORD=… <%= config.bin %> <%= command.id %> --data-dir /var/lib/hactl/raft --partner-addrs db1:5010,db2:5010' },
  ];
  static override flags = {
    config: Flags.string({ char: 'c', summary: 'YAML file with a raft: section (data_dir, partner_addrs, password).' }),
    'data-dir': Flags.string({ summary: 'The member\'s Raft data directory.' }),
    'partner-addrs': Flags.string({ summary: 'Other members, comma-separated host:port: asked for the current term.', multiple: true }),
    password: Flags.string({ summary: 'Cluster password (prefer HACTL_RAFT_PASSWORD: arguments are visible in ps).', env: 'HACTL_RAFT_PASSWORD' }),
    force: Flags.boolean({ summary: 'Recover even if the directory loads cleanly (e.g. it was restored from an old backup).', default: false }),
    json: Flags.boolean({ summary: 'Print machine-readable JSON.', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(RaftRecover);
    const [{ recoverDataDir, nodeFs }, { clusterTerm }, { readRaftSection }, { failCommand }, { createLineLogger }] = await Promise.all([
      import('../../raft/storage/index.js'),
      import('../../raft/admin/client.js'),
      import('../../cli/raft-config.js'),
      import('../../cli/errors.js'),
      import('../../cli/logger.js'),
    ]);
    try {
      const file = flags.config ? await readRaftSection(flags.config) : {};
      const dir = flags['data-dir'] ?? file.data_dir;
      if (!dir) throw new Error('--data-dir (or raft.data_dir in the config file) is required');
      const partners = flags['partner-addrs']?.flatMap((p) => p.split(',')).map((p) => p.trim()).filter(Boolean) ?? file.partner_addrs ?? [];
      const logger = createLineLogger('warn');
      const term = await clusterTerm(partners, { password: flags.password ?? file.password ?? null, timeoutMs: 3_000 });
      if (partners.length > 0 && term === null) logger.warn(`none of ${partners.join(', ')} answered: the vote is kept from the term found on disk only`);
      const result = await recoverDataDir(nodeFs, dir, { force: flags.force, clusterTerm: term, now: new Date(), logger });
      if (flags.json) this.log(JSON.stringify(result, null, 2));
      else if (result.kind === 'healthy') this.log(`${dir} loads cleanly (term ${result.term}, ${result.entries} log entries): nothing to recover (use --force to recover anyway)`);
      else {
        this.log(`moved ${result.moved.length} file(s) to ${result.movedTo}`);
        this.log(`restart term ${result.term} (${result.evidence.join('; ') || 'nothing readable'}); vote of that term marked as lost`);
        this.log('start the member again: it rejoins as a learner and votes once caught up (watch hactl raft members)');
      }
    } catch (err) {
      failCommand(this, err);
    }
  }
}

import { Command, Flags } from '@oclif/core';
import { jsonFlag, raftConnectFlags } from '../../cli/raft-flags.js';

export default class RaftStatus extends Command {
  static override summary = 'Show the Raft status of one member (syncobj_admin -status field names).';
  static override description =
    'Connects to the Raft port of a member and prints its view: role, leader, term, commit and applied indexes, ' +
    'log length, per-partner connection and replication state, key and lease counts, storage health. ' +
    'Exits non-zero when the member is unreachable or refuses the password.';
  static override examples = [
    { description: 'Status of the local member as a table', command: '<%= config.bin %> <%= command.id %> -c 127.0.0.1:5010' },
    { description: 'With a password from the environment, as JSON', command: 'HACTL_RAFT_PASSWORD=… <%= config.bin %> <%= command.id %> -c db1:5010 --json' },
    { description: 'pysyncobj-style "key: value" lines for grep', command: '<%= config.bin %> <%= command.id %> -c db1:5010 --raw' },
  ];
  static override flags = {
    ...raftConnectFlags,
    ...jsonFlag,
    raw: Flags.boolean({ summary: 'Print sorted "key: value" lines like syncobj_admin -status.', default: false, exclusive: ['json'] }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(RaftStatus);
    const [{ withAdminClient }, { failCommand }] = await Promise.all([import('../../raft/admin/client.js'), import('../../cli/errors.js')]);
    const status = await withAdminClient(flags.connect, { password: flags.password, timeoutMs: flags.timeout * 1000 }, (c) => c.status()).catch((err: unknown) => failCommand(this, err));
    if (flags.json) {
      const { formatJson } = await import('../../cli/format.js');
      this.log(formatJson(status));
    } else if (flags.raw) {
      const { formatKeyValueLines } = await import('../../cli/format.js');
      this.log(formatKeyValueLines(status));
    } else {
      const { renderStatus } = await import('../../cli/raft-render.js');
      this.log(renderStatus(status));
    }
  }
}

import { Command } from '@oclif/core';
import { jsonFlag, raftConnectFlags } from '../../cli/raft-flags.js';

export default class RaftMembers extends Command {
  static override summary = 'List the Raft members as one member sees them.';
  static override description = 'Voters and learners (members still catching up), who leads, and whether the queried member hears from each one recently.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> -c 127.0.0.1:5010',
    '<%= config.bin %> <%= command.id %> -c db1:5010 --json',
  ];
  static override flags = { ...raftConnectFlags, ...jsonFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(RaftMembers);
    const [{ withAdminClient }, { failCommand }] = await Promise.all([import('../../raft/admin/client.js'), import('../../cli/errors.js')]);
    const members = await withAdminClient(flags.connect, { password: flags.password, timeoutMs: flags.timeout * 1000 }, (c) => c.members()).catch((err: unknown) => failCommand(this, err));
    if (flags.json) {
      const { formatJson } = await import('../../cli/format.js');
      this.log(formatJson(members));
    } else {
      const { renderMembers } = await import('../../cli/raft-render.js');
      this.log(renderMembers(members));
    }
  }
}

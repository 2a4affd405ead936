import { Args, Command, Flags } from '@oclif/core';
import { jsonFlag, raftConnectFlags } from '../../cli/raft-flags.js';

export default class RaftRemove extends Command {
  static override summary = 'Remove a member from the Raft cluster.';
  static override description = 'The request goes to the leader. To remove the leader itself, transfer leadership first. Prints "SUCCESS REMOVE host:port" once the change is committed.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> -c 127.0.0.1:5010 127.0.0.1:5013',
    'HACTL_RAFT_PASSWORD=… <%= config.bin %> <%= command.id %> -c db1:5010 witness:5010',
  ];
  static override args = {
    addr: Args.string({ description: 'Raft address (host:port) of the member to remove.', required: true }),
  };
  static override flags = {
    ...raftConnectFlags,
    ...jsonFlag,
    wait: Flags.integer({ summary: 'Seconds to wait for the change to complete.', default: 30, min: 1 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RaftRemove);
    const [{ withAdminClient }, { failCommand }] = await Promise.all([import('../../raft/admin/client.js'), import('../../cli/errors.js')]);
    const result = await withAdminClient(flags.connect, { password: flags.password, timeoutMs: flags.timeout * 1000 }, (c) => c.remove(args.addr, flags.wait * 1000)).catch((err: unknown) => failCommand(this, err));
    if (flags.json) this.log(JSON.stringify(result, null, 2));
    else this.log(`${result.message}\nvoters: ${result.voters.join(', ')}${result.learners.length ? `\nlearners: ${result.learners.join(', ')}` : ''}`);
  }
}

import { Args, Command, Flags } from '@oclif/core';
import { jsonFlag, raftConnectFlags } from '../../cli/raft-flags.js';

export default class RaftTransfer extends Command {
  static override summary = 'Hand Raft leadership to another member (TimeoutNow), without waiting for an election timeout.';
  static override description =
    'Without an address the leader picks the most up-to-date voter. The request goes to the leader through the member given with -c. ' +
    'Prints "SUCCESS TRANSFER host:port" and how long it took once the target leads.';
  static override examples = [
    { description: 'Let the leader pick its successor', command: '<%= config.bin %> <%= command.id %> -c 127.0.0.1:5010' },
    { description: 'Move leadership to a given member', command: '<%= config.bin %> <%= command.id %> -c 127.0.0.1:5010 127.0.0.1:5012' },
  ];
  static override args = {
    addr: Args.string({ description: 'Raft address (host:port) of the new leader; default: the best voter.', required: false }),
  };
  static override flags = {
    ...raftConnectFlags,
    ...jsonFlag,
    wait: Flags.integer({ summary: 'Seconds to wait for the new leader.', default: 5, min: 1 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RaftTransfer);
    const [{ withAdminClient }, { failCommand }] = await Promise.all([import('../../raft/admin/client.js'), import('../../cli/errors.js')]);
    const result = await withAdminClient(flags.connect, { password: flags.password, timeoutMs: flags.timeout * 1000 }, (c) => c.transfer(args.addr ?? null, flags.wait * 1000)).catch((err: unknown) => failCommand(this, err));
    if (flags.json) this.log(JSON.stringify(result, null, 2));
    else this.log(`${result.message} (from ${result.from}, ${result.elapsedMs} ms)`);
  }
}

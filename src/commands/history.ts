import { Args } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags, formatFlag, watchFlag } from '../cli/cluster-flags.js';

export default class History extends ClusterCommand {
  static override summary = 'Show the timeline switches of the cluster: failovers and switchovers.';
  static override description =
    'One row per promotion: the timeline that ended (TL), the WAL position where it ended (LSN), why, when, and the member ' +
    'that became the new leader.';
  static override examples = [
    { description: 'As a table', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'For scripts', command: '<%= config.bin %> <%= command.id %> -f json' },
  ];
  static override args = {
    cluster: Args.string({ ignoreStdin: true, description: 'Cluster name (scope); checked against the agents\' answer.', required: false }),
  };
  static override flags = { ...connectionFlags, ...formatFlag, ...watchFlag };

  async run(): Promise<void> {
    const { normalizeWatchArgv } = await import('../cli/watch.js');
    const { args, flags } = await this.parse(History, normalizeWatchArgv(this.argv));
    const [{ renderHistory }, { normalizeFormat, renderedText }, { parseSeconds }] = await Promise.all([
      import('../cli/history-table.js'),
      import('../cli/output.js'),
      import('../cli/cluster-flags.js'),
    ]);
    const client = await this.connect(flags);
    const colors = this.colors(flags);
    const frame = async () => {
      if (args.cluster !== undefined) this.checkClusterName(args.cluster, (await client.cluster()).cluster.scope);
      const text = await renderedText(renderHistory(await client.history(), { format: normalizeFormat(flags.format), colors }));
      return flags.timestamp ? `${(await import('../cli/show-cluster.js')).timestampLine(new Date())}\n${text}` : text;
    };
    let watch: number | undefined;
    try {
      watch = flags['watch-every'] !== undefined ? parseSeconds(flags['watch-every'], 'watch-every') : parseSeconds(flags.watch, 'watch');
    } catch (err) {
      this.fail(err);
    }
    if (watch === undefined) {
      this.log(await frame().catch((err: unknown) => this.fail(err)));
      this.warnUnreachable();
      return;
    }
    const { runWatch } = await import('../cli/watch.js');
    await runWatch(watch, frame, { write: (t) => process.stdout.write(t), isTTY: process.stdout.isTTY === true, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) });
  }
}

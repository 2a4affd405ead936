import { Args, Flags } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags } from '../cli/cluster-flags.js';

export default class ShowConfig extends ClusterCommand {
  static override summary = 'Show the dynamic configuration shared by the cluster (secrets redacted).';
  static override description =
    'The configuration stored in the cluster (ttl, loop_wait, retry_timeout, maximum_lag_on_failover, postgresql.parameters, …) ' +
    'as block YAML with sorted keys; passwords and other secrets are shown as ******. Change it with edit-config.';
  static override examples = [
    { description: 'Show it', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'As JSON', command: '<%= config.bin %> <%= command.id %> -f json' },
  ];
  static override args = {
    cluster: Args.string({ ignoreStdin: true, description: 'Cluster name (scope); checked against the agents\' answer.', required: false }),
  };
  static override flags = {
    ...connectionFlags,
    format: Flags.string({ char: 'f', summary: 'Output format.', options: ['yaml', 'yml', 'json'], default: 'yaml' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ShowConfig);
    const client = await this.connect(flags);
    const [{ redactSecrets }, config] = await Promise.all([
      import('../config/redact.js'),
      (async () => {
        if (args.cluster !== undefined) this.checkClusterName(args.cluster, (await client.cluster()).cluster.scope);
        return client.dynamicConfig();
      })().catch((err: unknown) => this.fail(err)),
    ]);
    this.warnUnreachable();
    const shown = redactSecrets(config);
    if (flags.format === 'json') {
      this.log(JSON.stringify(shown, null, 2));
    } else {
      const { configToYaml } = await import('../cli/config-edit.js');
      process.stdout.write(configToYaml(shown));
    }
  }
}

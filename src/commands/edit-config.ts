import { Args, Flags } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags, forceFlag } from '../cli/cluster-flags.js';

export default class EditConfig extends ClusterCommand {
  static override summary = 'Change the dynamic configuration: in $EDITOR, with --set/--pg, or from a file; shows a diff first.';
  static override description =
    'Without --set, --pg, --apply or --replace the configuration opens in $EDITOR. The change is shown as a unified diff and ' +
    'applied after confirmation (--force skips it) as a merge-patch through the leader\'s agent. Keys are dotted paths; values ' +
    'are YAML; "null" removes a key. PostgreSQL parameter names keep their dots (postgresql.parameters.auto_explain.log_min_duration).';
  static override examples = [
    { description: 'Open the editor', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Set values from a script', command: '<%= config.bin %> <%= command.id %> -s loop_wait=5 -p max_connections=200 --force' },
    { description: 'Remove a parameter', command: '<%= config.bin %> <%= command.id %> -p work_mem=null --force' },
    { description: 'Merge a YAML file (or - for stdin)', command: '<%= config.bin %> <%= command.id %> --apply changes.yml' },
  ];
  static override args = {
    cluster: Args.string({ ignoreStdin: true, description: 'Cluster name (scope); checked against the agents\' answer.', required: false }),
  };
  static override flags = {
    ...connectionFlags,
    ...forceFlag,
    set: Flags.string({ char: 's', summary: 'Set key.path=value (YAML value; null removes). Repeatable.', multiple: true, helpValue: 'KEY=VALUE' }),
    pg: Flags.string({ char: 'p', summary: 'Set the PostgreSQL parameter name=value. Repeatable.', multiple: true, helpValue: 'NAME=VALUE' }),
    apply: Flags.string({ summary: 'Merge the YAML in FILE (- for stdin) into the configuration.', helpValue: 'FILE', exclusive: ['replace'] }),
    replace: Flags.string({ summary: 'Replace the configuration with the YAML in FILE (- for stdin).', helpValue: 'FILE', exclusive: ['apply'] }),
    quiet: Flags.boolean({ char: 'q', summary: 'Do not show the diff.', default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(EditConfig);
    const { runEditConfig } = await import('../cli/edit-config-flow.js');
    await runEditConfig(this, flags, args.cluster);
  }
}

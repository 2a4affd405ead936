import { Command, Flags } from '@oclif/core';

export default class AgentCommand extends Command {
  static override summary = 'Run the HA agent for one PostgreSQL host (or validate its configuration).';
  static override description =
    'Keeps this host\'s PostgreSQL in the cluster: joins the embedded Raft store from the raft: section, serves the REST API, ' +
    'and every loop_wait seconds decides what to do (bootstrap, follow the leader, renew the leader key, promote, demote) and logs one line ' +
    'saying what and why. Reads a Patroni-style YAML file (HACTL_*/PATRONI_* variables override it). SIGHUP reloads the file; ' +
    'SIGTERM stops PostgreSQL, releases the leader key so a replica takes over at once, and exits 0. Exits 1 with a CRITICAL line on a fatal problem.';
  static override examples = [
    { description: 'Run the agent (usually from a systemd unit)', command: '<%= config.bin %> <%= command.id %> -c /etc/hactl/ha.yml' },
    { description: 'Check a file before deploying it; each problem prints as file:line:col: message', command: '<%= config.bin %> <%= command.id %> --validate-config -c /etc/hactl/ha.yml' },
    { description: 'Show the effective configuration with secrets masked', command: '<%= config.bin %> <%= command.id %> --validate-config --print -c ha.yml' },
    { description: 'Config path from the environment', command: 'HACTL_CONFIG=/etc/hactl/ha.yml <%= config.bin %> <%= command.id %>' },
  ];
  static override flags = {
    config: Flags.string({ char: 'c', summary: 'Path of the YAML configuration file.', env: 'HACTL_CONFIG', required: true }),
    'validate-config': Flags.boolean({ summary: 'Check the file (schema, timing rule, binaries, free ports) and exit; non-zero when a problem is found.', default: false }),
    print: Flags.boolean({ char: 'p', summary: 'With --validate-config: print the effective configuration (secrets masked) as YAML.', default: false, dependsOn: ['validate-config'] }),
    'ignore-listen-port': Flags.boolean({ char: 'i', summary: 'With --validate-config: do not check that the listen ports are free (the agent is running).', default: false, dependsOn: ['validate-config'] }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AgentCommand);
    if (flags['validate-config']) {
      const { validateConfig } = await import('../agent/validate.js');
      const result = await validateConfig(flags.config, process.env, { ignoreListenPort: flags['ignore-listen-port'] });
      if (flags.print && result.config) {
        const [{ stringify }, { redactSecrets }] = await Promise.all([import('yaml'), import('../config/index.js')]);
        this.log(stringify(redactSecrets(result.config)).trimEnd());
      }
      for (const warning of result.warnings) process.stderr.write(`WARNING: ${warning}\n`);
      for (const problem of result.problems) process.stderr.write(`${problem}\n`);
      if (result.problems.length > 0) this.exit(1);
      if (!flags.print) this.log(`${flags.config}: configuration is valid`);
      return;
    }
    const { runAgent } = await import('../agent/agent.js');
    const code = await runAgent({ configPath: flags.config, version: this.config.version });
    // The Raft transport, pg pools and timers may hold the event loop open: leave deliberately.
    process.exit(code);
  }
}

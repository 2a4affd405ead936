import { Command, Flags } from '@oclif/core';

export default class Demo extends Command {
  static override summary = 'Start a throw-away local cluster (N agents, embedded Raft) and watch it until Ctrl-C.';
  static override description =
    'Starts N agents on 127.0.0.1 with free ports, the embedded Raft store and short timing (ttl 6 s, loop_wait 1 s, fsync off: ' +
    'for trying hactl, not for data), waits until one leader and N-1 streaming replicas are up, prints the topology and the ' +
    'connection strings (a multi-host target_session_attrs=read-write one reaches the primary wherever it is), then redraws ' +
    'the topology until Ctrl-C. Ctrl-C (or SIGTERM) stops every agent cleanly (each stops its PostgreSQL) and removes the ' +
    'directory unless --keep. As root, PostgreSQL runs as the unprivileged user postgres; as a normal user, as that user. ' +
    'Needs the PostgreSQL server binaries (Debian: apt-get install postgresql). Exits 1 if the cluster does not come up.';
  static override examples = [
    { description: 'Three members in a temporary directory', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Five members, files kept in ./demo for inspection', command: '<%= config.bin %> <%= command.id %> --nodes 5 --dir ./demo --keep' },
    { description: 'Meanwhile, in another terminal (the demo prints the exact path)', command: 'HACTL_CONFIG=/tmp/hactl-demo-XXXXXX/node1/ha.yml <%= config.bin %> switchover --force' },
  ];
  static override flags = {
    nodes: Flags.integer({ char: 'n', summary: 'Number of members (1-9).', default: 3, min: 1, max: 9 }),
    dir: Flags.string({ char: 'd', summary: 'Directory for the members (created; must be empty). Default: a new temporary directory.', helpValue: 'DIR' }),
    keep: Flags.boolean({ summary: 'Keep the directory (data, configs, agent logs) after Ctrl-C.', default: false }),
    interval: Flags.integer({ summary: 'Seconds between redraws of the live topology.', default: 2, min: 1, helpValue: 'SECONDS' }),
    timeout: Flags.integer({ summary: 'Give up (and clean up) if the cluster is not ready after SECONDS.', default: 120, min: 1, helpValue: 'SECONDS' }),
    'exit-after-ready': Flags.boolean({ hidden: true, summary: 'Stop cleanly as soon as the cluster is ready (tests, benchmarks).', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Demo);
    const path = await import('node:path');
    const { runDemo } = await import('../demo/run.js');
    const code = await runDemo({
      size: flags.nodes,
      dir: flags.dir,
      keep: flags.keep,
      intervalSeconds: flags.interval,
      timeoutSeconds: flags.timeout,
      exitAfterReady: flags['exit-after-ready'],
      binPath: path.join(this.config.root, 'bin', 'run.js'),
      bin: this.config.bin,
    });
    // Sockets of the status polls may linger: leave deliberately, like `hactl agent`.
    process.exit(code);
  }
}

import { Command, Flags } from '@oclif/core';

export default class RaftNodeCommand extends Command {
  static override summary = 'Run a Raft-only member (a witness): a vote and a copy of the store, no PostgreSQL.';
  static override description =
    'Two PostgreSQL hosts plus one small witness host form a three-member Raft quorum that survives the loss of any one host. ' +
    'Runs until SIGTERM or SIGINT, then hands over leadership if it leads, flushes and exits. A data directory is required: ' +
    'a member that forgot its term, vote or log on restart could vote twice in one term.';
  static override examples = [
    {
      description: 'A witness for db1 and db2 (password from the environment)',
      command: 'HACTL_RAFT_PASSWORD=… <%= config.bin %> <%= command.id %> --self-addr witness:5010 --partner-addrs db1:5010,db2:5010 --data-dir /var/lib/hactl/raft',
    },
    { description: 'From the raft: section of a config file', command: '<%= config.bin %> <%= command.id %> -c /etc/hactl/ha.yml' },
  ];
  static override flags = {
    config: Flags.string({ char: 'c', summary: 'YAML file with a raft: section (self_addr, partner_addrs, bind_addr, data_dir, password).' }),
    'self-addr': Flags.string({ summary: 'This member\'s advertised Raft address, host:port.' }),
    'partner-addrs': Flags.string({ summary: 'The other members, comma-separated host:port (may repeat the flag).', multiple: true }),
    'bind-addr': Flags.string({ summary: 'Address to listen on when it differs from --self-addr.' }),
    'data-dir': Flags.string({ summary: 'Directory for the voter file, journal and snapshots (fsynced). Required (here or as raft.data_dir).' }),
    password: Flags.string({ summary: 'Cluster password (prefer HACTL_RAFT_PASSWORD: arguments are visible in ps). Required unless --allow-unauthenticated.', env: 'HACTL_RAFT_PASSWORD' }),
    'allow-unauthenticated': Flags.boolean({ summary: 'Run without a password on purpose (raft.allow_unauthenticated): anyone who reaches the port takes part.', default: false }),
    scope: Flags.string({ summary: 'Name of the cluster (its scope; default: the file\'s scope): salts the password\'s key as the agents do.' }),
    'tick-ms': Flags.integer({ summary: 'Timer tick in ms.', default: 50, min: 1 }),
    'heartbeat-ms': Flags.integer({ summary: 'Leader heartbeat period in ms (raft.append_entries_period).' }),
    'election-min-ms': Flags.integer({ summary: 'Minimum election timeout in ms (raft.min_timeout).' }),
    'election-max-ms': Flags.integer({ summary: 'Maximum election timeout in ms (raft.max_timeout).' }),
    'snapshot-entries': Flags.integer({ summary: 'Snapshot and compact the log after this many applied entries.', min: 2 }),
    'log-level': Flags.string({ summary: 'debug, info, warn or error.', default: 'info', options: ['debug', 'info', 'warn', 'error'] }),
    // Hidden and flag-only (no config key: an agent never takes it): the Jepsen-style run's switch
    // for EIO at run time (eioSwitchFs in src/raft/storage/fs.ts says what the file holds).
    'test-eio-file': Flags.string({ hidden: true, summary: 'TEST ONLY: while this file exists, storage writes/syncs fail with EIO (see eioSwitchFs).' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(RaftNodeCommand);
    const [{ RaftNode }, { createLineLogger, parseLogLevel }, { failCommand }, { readRaftSection }, { FileStorage }, { eioSwitchFs, nodeFs }] = await Promise.all([
      import('../../raft/node.js'),
      import('../../cli/logger.js'),
      import('../../cli/errors.js'),
      import('../../cli/raft-config.js'),
      import('../../raft/storage/file-storage.js'),
      import('../../raft/storage/fs.js'),
    ]);
    const logger = createLineLogger(parseLogLevel(flags['log-level']));
    let node: InstanceType<typeof RaftNode>;
    try {
      const file = flags.config ? await readRaftSection(flags.config) : {};
      const selfAddr = flags['self-addr'] ?? file.self_addr;
      if (!selfAddr) throw new Error('--self-addr (or raft.self_addr in the config file) is required');
      const partners = flags['partner-addrs']?.flatMap((p) => p.split(',')).map((p) => p.trim()).filter(Boolean) ?? file.partner_addrs ?? [];
      const sec = (s: number | undefined) => (s === undefined ? undefined : Math.round(s * 1000));
      const dataDir = flags['data-dir'] ?? file.data_dir ?? null; // required: RaftNode refuses to start without
      const eioFile = flags['test-eio-file'];
      if (eioFile !== undefined && !dataDir) throw new Error('--test-eio-file needs a data directory (--data-dir or raft.data_dir)');
      if (eioFile !== undefined) logger.warn(`raft node: TEST ONLY: storage fails with EIO while ${eioFile} exists (--test-eio-file); never use this in production`);
      node = new RaftNode({
        selfAddr,
        partnerAddrs: partners,
        bindAddr: flags['bind-addr'] ?? file.bind_addr,
        dataDir,
        storage: eioFile !== undefined && dataDir ? new FileStorage(dataDir, logger, { fs: eioSwitchFs(nodeFs, eioFile) }) : undefined,
        password: flags.password ?? file.password ?? null,
        allowUnauthenticated: flags['allow-unauthenticated'] || file.allow_unauthenticated === true,
        clusterName: flags.scope ?? file.scope ?? null,
        tickMs: flags['tick-ms'],
        heartbeatMs: flags['heartbeat-ms'] ?? sec(file.append_entries_period),
        electionTimeoutMinMs: flags['election-min-ms'] ?? sec(file.min_timeout),
        electionTimeoutMaxMs: flags['election-max-ms'] ?? sec(file.max_timeout),
        snapshotEntries: flags['snapshot-entries'],
        logger,
      });
      await node.start();
    } catch (err) {
      failCommand(this, err);
    }
    await new Promise<void>((resolve) => {
      let stopping = false;
      const onSignal = (sig: NodeJS.Signals) => {
        if (stopping) {
          logger.warn(`raft node: ${sig} again, exiting without a clean shutdown`);
          process.exit(1);
        }
        stopping = true;
        logger.info(`raft node: ${sig} received, shutting down`);
        node.stop().then(resolve, (err: unknown) => {
          logger.error(`raft node: shutdown failed: ${(err as Error).message}`);
          resolve();
        });
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    });
  }
}

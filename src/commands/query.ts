import { Args, Flags } from '@oclif/core';
import { ClusterCommand } from '../cli/cluster-command.js';
import { connectionFlags, watchFlag } from '../cli/cluster-flags.js';
import { OUTPUT_FORMATS } from '../cli/output.js';
import { ROLE_FILTERS } from '../cli/member-select.js';

// patronictl query's letters: -c is the SQL and -f the file, so here the config file is --config only
// (or $HACTL_CONFIG / $PATRONICTL_CONFIG_FILE), and the format has no letter.
const { config, ...otherConnectionFlags } = connectionFlags;

export default class Query extends ClusterCommand {
  static override summary = 'Run SQL on a member chosen by role or name and print the rows (patronictl query).';
  static override description =
    'Connects to the member\'s PostgreSQL (the host and port of its member key) as -U (default: libpq\'s, $PGUSER or the OS user), ' +
    'with the password from --password, $PGPASSWORD or ~/.pgpass. Without -m or -r the leader is asked; -r primary, replica and ' +
    'standby-leader are checked on the server (pg_is_in_recovery). Output is tab-separated with a header row unless --format says ' +
    'otherwise. An SQL error prints "<time>\tERROR, SQLSTATE: <code>" as patronictl does, and, outside --watch, the server\'s ' +
    'message on stderr with exit 1. Note: -c is the SQL here (as in patronictl query); give the configuration file with --config.';
  static override examples = [
    { description: 'On the leader', command: '<%= config.bin %> <%= command.id %> -c "SELECT now()"' },
    { description: 'On a replica, as a given user and database', command: '<%= config.bin %> <%= command.id %> -r replica -U app -d appdb -c "SELECT count(*) FROM orders"' },
    { description: 'A file of SQL on one member, as a table', command: '<%= config.bin %> <%= command.id %> -m node2 -f check.sql --format pretty' },
    { description: 'Every 5 seconds', command: '<%= config.bin %> <%= command.id %> -c "SELECT pg_last_wal_replay_lsn()" -r replica -w 5' },
  ];
  static override args = {
    cluster: Args.string({ ignoreStdin: true, description: 'Cluster name (scope); checked against the agents\' answer.', required: false }),
  };
  static override flags = {
    ...otherConnectionFlags,
    config: Flags.string({ summary: config.summary, helpValue: 'FILE' }),
    command: Flags.string({ char: 'c', summary: 'The SQL to run.', helpValue: 'SQL' }),
    file: Flags.string({ char: 'f', summary: 'Run the SQL in this file (- for stdin).', helpValue: 'FILE' }),
    member: Flags.string({ char: 'm', summary: 'The member to query (exclusive with --role).' }),
    role: Flags.string({ char: 'r', summary: 'Query a member with this role (default: the leader).', options: [...ROLE_FILTERS] }),
    username: Flags.string({ char: 'U', summary: 'Database user name.' }),
    password: Flags.boolean({ summary: 'Ask for the password (read from stdin without a terminal).', default: false }),
    dbname: Flags.string({ char: 'd', summary: 'Database to connect to (default: the user name).' }),
    format: Flags.string({ summary: 'Output format.', options: [...OUTPUT_FORMATS], default: 'tsv' }),
    delimiter: Flags.string({ summary: 'Column delimiter of the tsv format.', default: '\t' }),
    watch: watchFlag.watch,
    'watch-every': watchFlag['watch-every'],
  };

  async run(): Promise<void> {
    const { normalizeWatchArgv } = await import('../cli/watch.js');
    const { args, flags } = await this.parse(Query, normalizeWatchArgv(this.argv));
    const { runQuery } = await import('../cli/query-flow.js');
    await runQuery(this, flags, args.cluster);
  }
}

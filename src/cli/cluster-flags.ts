/** Flags shared by the cluster commands (list, switchover, …): finding the agents, output, --force. */
import { Flags } from '@oclif/core';
import { OUTPUT_FORMATS } from './output.js';

export const connectionFlags = {
  config: Flags.string({
    char: 'c',
    summary: 'Configuration file with the agents\' REST addresses and credentials (default: $HACTL_CONFIG, $PATRONICTL_CONFIG_FILE, then /etc/ha.yml).',
    helpValue: 'FILE',
  }),
  api: Flags.string({
    summary: 'Agent REST API URL(s) to ask, comma-separated; overrides the config file\'s addresses.',
    helpValue: 'URL[,URL…]',
    env: 'HACTL_API',
  }),
  cacert: Flags.string({ summary: 'CA certificate (PEM) that signs the agents\' certificates (https).', helpValue: 'FILE' }),
  certfile: Flags.string({ summary: 'Client certificate (PEM) for agents that require one.', helpValue: 'FILE' }),
  keyfile: Flags.string({ summary: 'Key of the client certificate (PEM).', helpValue: 'FILE' }),
  insecure: Flags.boolean({ char: 'k', summary: 'Do not verify the agents\' TLS certificates.', default: false }),
  timeout: Flags.string({ summary: 'Seconds to wait for each agent before trying the next.', default: '2', helpValue: 'SECONDS' }),
  color: Flags.boolean({ summary: 'Colours (default: on a terminal, off with NO_COLOR).', allowNo: true }),
};

export const formatFlag = {
  format: Flags.string({ char: 'f', summary: 'Output format.', options: [...OUTPUT_FORMATS], default: 'pretty' }),
};

export const watchFlag = {
  watch: Flags.string({ char: 'W', summary: 'Refresh every SECONDS (2 when no number follows) until Ctrl-C.', helpValue: '[SECONDS]' }),
  // patronictl's spelling: -W alone refreshes every 2 s, -w SECS at the given interval.
  'watch-every': Flags.string({ char: 'w', summary: 'Refresh every SECONDS until Ctrl-C (patronictl -w).', helpValue: 'SECONDS', exclusive: ['watch'] }),
  timestamp: Flags.boolean({ char: 't', summary: 'Print the date and time before each table (patronictl -t).', default: false }),
};

export const extendedFlag = {
  extended: Flags.boolean({ char: 'e', summary: 'Show Pending restart, Scheduled restart, Tags, Fence and Watchdog columns.', default: false }),
};

export const forceFlag = {
  force: Flags.boolean({ summary: 'Do not ask for confirmation (needed without a terminal).', default: false }),
};

/** A positive number of seconds from a flag, or a usage error in the CLI's words. */
export function parseSeconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag} expects a positive number of seconds, got ${JSON.stringify(value)}`);
  return n;
}

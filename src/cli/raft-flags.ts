/** Flags shared by the `hactl raft …` admin commands, and how they become client options. */
import { Flags } from '@oclif/core';

export const DEFAULT_RAFT_ADDR = '127.0.0.1:5010';

export const raftConnectFlags = {
  connect: Flags.string({
    char: 'c',
    summary: 'Raft port of any member, host:port.',
    env: 'HACTL_RAFT_ADDR',
    default: DEFAULT_RAFT_ADDR,
  }),
  password: Flags.string({
    summary: 'Cluster password (prefer the HACTL_RAFT_PASSWORD environment variable: arguments are visible in ps).',
    env: 'HACTL_RAFT_PASSWORD',
  }),
  timeout: Flags.integer({
    summary: 'Seconds to wait for the node (connect, and each request).',
    default: 5,
    min: 1,
  }),
};

export const jsonFlag = {
  json: Flags.boolean({ summary: 'Print machine-readable JSON.', default: false }),
};

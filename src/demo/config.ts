// Agent configuration of a throw-away local cluster: `hactl demo` and the whole-cluster test
// fixtures write the same files. Each member gets its own ports (and, in the fault tests, its own
// address), the embedded Raft store, trust authentication from the cluster's network, small
// timing (ttl 6 / loop_wait 1 / retry_timeout 2) and fsync off: fast to start, not for data.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isLoopbackHost } from '../agent/restapi-settings.js';
import { freePorts } from './ports.js';

export interface LocalTiming {
  ttl: number;
  loop_wait: number;
  retry_timeout: number;
}

export const FAST_TIMING: LocalTiming = { ttl: 6, loop_wait: 1, retry_timeout: 2 };

export interface LocalMember {
  name: string;
  /** Directory of this member, the PostgreSQL user's: config, data, pgpass, unix sockets, agent log. */
  base: string;
  /**
   * The agent's own directory of this member (root's when the agent runs as root), beside `base` and
   * not inside it: the Raft journal lives here (issue 14: a journal under the PostgreSQL user's tree
   * lets that user redirect root's writes). `<base>.agent`, made by writeMemberConfigs.
   */
  agentDir: string;
  configPath: string;
  dataDir: string;
  /** Address the member's REST API, PostgreSQL and Raft listen on. */
  host: string;
  apiPort: number;
  pgPort: number;
  raftPort: number;
}

export interface MemberConfigOptions {
  scope: string;
  timing: LocalTiming;
  /** Raft members (every member a partner), or none (single-node tests on the memory DCS). */
  raft: boolean;
  /** Networks trusted in pg_hba besides the member's own address (e.g. `10.213.7.0/24`). */
  trustedCidrs?: readonly string[];
  /** Extra top-level YAML appended verbatim (e.g. `tags:`). */
  extraYaml?: string;
  logLevel?: string;
  /** Default true; false makes a diverged old primary wait for `reinit`. */
  usePgRewind?: boolean;
  /** A watchdog device (e.g. the FIFO of src/agent/watchdog/fake-device.ts, driver `testing`); default off. */
  watchdog?: { device: string; driver?: 'default' | 'testing'; mode?: 'automatic' | 'required'; safetyMargin?: number };
}

function watchdogYaml(w: MemberConfigOptions['watchdog']): string {
  if (!w) return 'watchdog:\n  mode: off\n';
  return `watchdog:\n  mode: ${w.mode ?? 'required'}\n  device: ${w.device}\n  driver: ${w.driver ?? 'testing'}\n  safety_margin: ${w.safetyMargin ?? -1}\n`;
}

function hbaCidrs(member: LocalMember, trusted: readonly string[]): string[] {
  return [...new Set([`${member.host}/32`, '127.0.0.1/32', ...trusted])];
}

/** The YAML of one member: Patroni's keys, trust auth on the cluster's addresses, fsync off, fast WAL retry. */
export function memberConfigYaml(member: LocalMember, all: readonly LocalMember[], options: MemberConfigOptions): string {
  const { timing } = options;
  const partners = all.filter((n) => n.name !== member.name).map((n) => `'${n.host}:${n.raftPort}'`);
  const raft = options.raft
    ? `raft:
  self_addr: '${member.host}:${member.raftPort}'
  partner_addrs: [${partners.join(', ')}]
  data_dir: ${member.agentDir}/raft
  # A throw-away cluster on this host or in test namespaces: no Raft password on purpose.
  allow_unauthenticated: true
`
    : '';
  const cidrs = hbaCidrs(member, options.trustedCidrs ?? []);
  const rewind = options.usePgRewind ?? true;
  const hba = cidrs.flatMap((c) => [`    - host all all ${c} trust`, `    - host replication all ${c} trust`]).join('\n');
  return `scope: ${options.scope}
namespace: /service
name: ${member.name}
log:
  level: ${options.logLevel ?? 'INFO'}
restapi:
  listen: ${member.host}:${member.apiPort}
  connect_address: ${member.host}:${member.apiPort}
${isLoopbackHost(member.host) ? '' : '  # A throw-away cluster in test network namespaces: no REST authentication on purpose.\n  allow_unauthenticated_unsafe: true\n'}${raft}bootstrap:
  dcs:
    ttl: ${timing.ttl}
    loop_wait: ${timing.loop_wait}
    retry_timeout: ${timing.retry_timeout}
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: ${rewind}
      use_slots: true
      parameters:
        wal_log_hints: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
  # no-sync: nothing here survives a crash anyway (fsync off); the flushes cost about a second.
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - auth: trust
    - no-sync
postgresql:
  listen: ${member.host}:${member.pgPort}
  connect_address: ${member.host}:${member.pgPort}
  data_dir: ${member.dataDir}
  pgpass: ${member.base}/pgpass
  pg_ctl_timeout: 30
  use_pg_rewind: ${rewind}
  # Right after bootstrap the primary's buffers are dirty: a spread checkpoint would hold the clone back.
  basebackup:
    - checkpoint: fast
    - no-sync
  authentication:
    superuser:
      username: postgres
      password: su-secret
    replication:
      username: replicator
      password: rep-secret
    rewind:
      username: rewinder
      password: rewind-secret
  parameters:
    unix_socket_directories: '${member.base}'
    fsync: 'off'
    synchronous_commit: 'off'
    wal_retrieve_retry_interval: 200ms
  pg_hba:
    - local all all trust
${hba}
${watchdogYaml(options.watchdog)}${options.extraYaml ?? ''}`;
}

export interface PlanOptions {
  size: number;
  /** Creates (and hands to the PostgreSQL user) the directory of member i (from 0). */
  makeBase: (index: number) => Promise<string>;
  /** Address of member i; default 127.0.0.1 for all (distinct ports). */
  hostOf?: (index: number) => string;
}

/** Names `node1`…`nodeN`, directories and free ports (three per member on its address). */
export async function planMembers(options: PlanOptions): Promise<LocalMember[]> {
  const hostOf = options.hostOf ?? (() => '127.0.0.1');
  // Ports are taken on 127.0.0.1 even for other addresses: those live in fresh network namespaces where every port is free.
  const ports = await freePorts(options.size * 3);
  const members: LocalMember[] = [];
  for (let i = 0; i < options.size; i++) {
    const base = await options.makeBase(i);
    members.push({
      name: `node${i + 1}`,
      base,
      configPath: path.join(base, 'ha.yml'),
      agentDir: `${base}.agent`,
      dataDir: path.join(base, 'data'),
      host: hostOf(i),
      apiPort: ports[i * 3]!,
      pgPort: ports[i * 3 + 1]!,
      raftPort: ports[i * 3 + 2]!,
    });
  }
  return members;
}

/** Writes every member's ha.yml (mode 0600: it holds passwords). */
export type PerMember<T> = (name: string) => T;

export async function writeMemberConfigs(
  members: readonly LocalMember[],
  options: Omit<MemberConfigOptions, 'extraYaml' | 'watchdog'> & { extraYaml?: PerMember<string>; watchdog?: PerMember<MemberConfigOptions['watchdog']> },
): Promise<void> {
  for (const m of members) {
    if (options.raft) await makeAgentDir(m.agentDir);
    const yaml = memberConfigYaml(m, members, { ...options, extraYaml: options.extraYaml?.(m.name), watchdog: options.watchdog?.(m.name) });
    await fs.writeFile(m.configPath, yaml, { mode: 0o600 });
  }
}

/**
 * The agent's directory of a member, private to the agent's user (0700). Made here rather than left to
 * the Raft store's recursive mkdir, so that a directory someone else planted at that name first (a
 * link, another owner) is refused instead of used.
 */
async function makeAgentDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { mode: 0o700 });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = await fs.lstat(dir);
  const mine = process.getuid?.() ?? st.uid;
  if (!st.isDirectory() || st.uid !== mine || (st.mode & 0o077) !== 0) {
    throw new Error(`${dir} already exists and is not a private directory of this user (0700): remove it or choose another directory`);
  }
}

/** libpq connection strings for the cluster (multi-host, Patroni-style). */
export function connectionStrings(members: readonly LocalMember[], user = 'postgres', dbname = 'postgres'): { readWrite: string; readOnly: string; perMember: Array<{ name: string; url: string }> } {
  const hosts = members.map((m) => m.host).join(',');
  const ports = members.map((m) => m.pgPort).join(',');
  const base = `host=${hosts} port=${ports} user=${user} dbname=${dbname}`;
  return {
    readWrite: `${base} target_session_attrs=read-write`,
    readOnly: `${base} target_session_attrs=read-only`,
    perMember: members.map((m) => ({ name: m.name, url: `postgresql://${user}@${m.host}:${m.pgPort}/${dbname}` })),
  };
}

// Shared fixtures for the REST API tests: a scriptable fake AgentApi, cluster views, a started
// server on a free loopback port and a raw HTTP client (so tests control every header).
import http from 'node:http';
import https from 'node:https';
import type { ClusterView, Member } from '../../../src/dcs/index.js';
import { ApiServer } from '../../../src/agent/api/server.js';
import type {
  ActionResult,
  AgentApi,
  ApiServerOptions,
  HaSnapshot,
  ReinitializeRequest,
  RestartRequest,
  SwitchoverRequest,
} from '../../../src/agent/api/types.js';
import type { FailoverCandidatesJson, MemberStatus } from '../../../src/protocol/index.js';
import { freePort } from '../../helpers/net.js';

export const NOW_MS = Date.parse('2026-11-25T12:00:00Z');

export function member(name: string, overrides: Partial<Member> = {}): Member {
  return {
    name,
    keyVersion: 1,
    role: 'replica',
    state: 'running',
    apiUrl: `http://127.0.0.1:800${name.slice(-1)}/patroni`,
    connUrl: `postgres://127.0.0.1:543${name.slice(-1)}/postgres`,
    version: '0.1.0',
    timeline: 1,
    xlogLocation: 0x3000000n,
    receivedLsn: 0x3000000n,
    replayedLsn: 0x3000000n,
    replicationState: 'streaming',
    tags: {},
    pendingRestart: false,
    ...overrides,
  };
}

/** node1 leads, node2 and node3 stream; the last known primary LSN is 0/3000060. */
export function clusterView(overrides: Partial<ClusterView> = {}): ClusterView {
  return {
    initialize: '7117556723320621508',
    config: { data: { ttl: 30, loop_wait: 10, maximum_lag_on_failover: 1048576 }, keyVersion: 3 },
    leader: { name: 'node1', keyVersion: 7, expiresInMs: 25_000 },
    members: [
      member('node1', { role: 'primary', replicationState: null, xlogLocation: 0x3000060n, receivedLsn: null, replayedLsn: null }),
      member('node2'),
      member('node3', { receivedLsn: 0x2000000n, replayedLsn: 0x1000000n, xlogLocation: 0x1000000n }),
    ],
    history: {
      lines: [{ timeline: 1, lsn: 0x3000000n, reason: 'no recovery target specified', timestamp: '2026-11-25T10:00:00+00:00', newLeader: 'node2' }],
      keyVersion: 2,
    },
    failover: null,
    sync: null,
    status: { lastLsn: 0x3000060n, slots: {}, retainSlots: [] },
    ...overrides,
  };
}

export function primaryStatus(overrides: Partial<MemberStatus> = {}): MemberStatus {
  return {
    state: 'running',
    postmaster_start_time: '2026-11-25 10:00:00.000000+00:00',
    role: 'primary',
    server_version: 160004,
    xlog: { location: 0x3000060 },
    timeline: 1,
    replication: [
      { usename: 'replicator', application_name: 'node2', client_addr: '127.0.0.1', state: 'streaming', sync_state: 'async', sync_priority: 0 },
    ],
    dcs_last_seen: 1795000000,
    database_system_identifier: '7117556723320621508',
    patroni: { version: '0.1.0', scope: 'demo', name: 'node1' },
    ...overrides,
  };
}

export function replicaStatus(overrides: Partial<MemberStatus> = {}): MemberStatus {
  return {
    state: 'running',
    postmaster_start_time: '2026-11-25 10:00:00.000000+00:00',
    role: 'replica',
    server_version: 160004,
    xlog: { received_location: 0x3000060, replayed_location: 0x3000060, replayed_timestamp: null, paused: false },
    timeline: 1,
    replication_state: 'streaming',
    dcs_last_seen: 1795000000,
    patroni: { version: '0.1.0', scope: 'demo', name: 'node2' },
    ...overrides,
  };
}

export function stoppedStatus(): MemberStatus {
  return { state: 'stopped', role: 'replica', dcs_last_seen: 1795000000, patroni: { version: '0.1.0', scope: 'demo', name: 'node2' } };
}

/** A fake agent: state is plain fields, every action call is recorded and answered from `results`. */
export class FakeAgent implements AgentApi {
  status: MemberStatus = primaryStatus();
  view: ClusterView | null = clusterView();
  ha: HaSnapshot = {
    isLeader: true,
    paused: false,
    nextRunAtMs: NOW_MS,
    ttlSeconds: 30,
    maximumLagOnFailoverBytes: 1048576,
    latestEndLsn: null,
  };
  calls: Array<{ method: string; arg?: unknown }> = [];
  results: Partial<Record<string, ActionResult | Error>> = {};

  memberStatus(): MemberStatus {
    return this.status;
  }
  clusterView(): ClusterView | null {
    return this.view;
  }
  haSnapshot(): HaSnapshot {
    return this.ha;
  }

  private act(method: string, arg: unknown, fallback: ActionResult): Promise<ActionResult> {
    this.calls.push({ method, arg });
    const result = this.results[method] ?? fallback;
    return result instanceof Error ? Promise.reject(result) : Promise.resolve(result);
  }

  requestSwitchover(req: SwitchoverRequest) {
    return this.act('requestSwitchover', req, { status: 200, text: `Successfully switched over to "${req.candidate}"` });
  }
  requestFailover(req: SwitchoverRequest) {
    return this.act('requestFailover', req, { status: 200, text: `Successfully failed over to "${req.candidate}"` });
  }
  failoverCandidates(query: { view: ClusterView; candidate: string | null; kind: 'failover' | 'switchover' }): Promise<FailoverCandidatesJson> {
    this.calls.push({ method: 'failoverCandidates', arg: query });
    return Promise.resolve({
      scope: 'demo',
      scenario: 'leader-lost',
      answered_by: 'node1',
      leader: query.view.leader?.name ?? null,
      candidate: query.candidate,
      pause: false,
      winner: null,
      racers: [],
      summary: 'no member would take the leader key',
      maximum_lag_on_failover: 1048576,
      last_primary_lsn: null,
      cluster_timeline: 1,
      synchronous_mode: 'off',
      members: [],
    });
  }
  cancelSwitchover() {
    return this.act('cancelSwitchover', undefined, { status: 404, text: 'no switchover is scheduled' });
  }
  restart(req: RestartRequest) {
    return this.act('restart', req, { status: 200, text: 'restarted successfully' });
  }
  cancelRestart() {
    return this.act('cancelRestart', undefined, { status: 404, text: 'no restarts are scheduled' });
  }
  reinitialize(req: ReinitializeRequest) {
    return this.act('reinitialize', req, { status: 200, text: 'reinitialize started' });
  }
  reload() {
    return this.act('reload', undefined, { status: 202, text: 'reload scheduled' });
  }
  patchConfig(patch: Record<string, unknown>) {
    return this.act('patchConfig', patch, { status: 200, body: { ...this.view?.config?.data, ...patch } });
  }
  putConfig(config: Record<string, unknown>) {
    return this.act('putConfig', config, { status: 200, body: config });
  }
  /** GET /failsafe answers this (null: 502). */
  failsafe: Record<string, string> | null = null;
  failsafeTopology() {
    return this.failsafe;
  }
  /** POST /failsafe answers this. */
  failsafeReply: { status: number; text: string; lsn?: string } = { status: 200, text: 'Accepted', lsn: '100' };
  acceptFailsafe(body: unknown) {
    this.calls.push({ method: 'acceptFailsafe', arg: body });
    return this.failsafeReply;
  }
}

export interface Started {
  server: ApiServer;
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startApi(agent: AgentApi, options: Partial<ApiServerOptions> = {}): Promise<Started> {
  const port = await freePort();
  const server = new ApiServer(agent, {
    listen: `127.0.0.1:${port}`,
    version: '0.1.0',
    scope: 'demo',
    name: 'node1',
    now: () => NOW_MS,
    ...options,
  });
  const address = await server.start();
  return { server, url: address.url, port: address.port, close: () => server.stop() };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json<T = unknown>(): T;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** String body: sent with Content-Length. */
  body?: string;
  /** TLS options when the URL is https. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export function request(url: string, options: RequestOptions = {}): Promise<RawResponse> {
  const target = new URL(url);
  const lib = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(options.body));
    const req = lib.request(
      target,
      { method: options.method ?? 'GET', headers, agent: false, ca: options.ca, cert: options.cert, key: options.key },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

// A fake agent for CLI tests: a real HTTP server on loopback that answers recorded Patroni-shaped
// JSON (not a mock of PostgreSQL: the commands under test talk HTTP to it exactly as to an agent).
// Each route answers a status and a body; requests are recorded for assertions.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface Reply {
  status?: number;
  /** Objects are sent as JSON, strings as text/plain. */
  body?: unknown;
  /** Raw text sent as is (malformed JSON tests). */
  raw?: string;
  delayMs?: number;
}

export type Route = Reply | ((req: RecordedRequest) => Reply);

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
  authorization: string | undefined;
}

export interface FakeAgent {
  url: string;
  routes: Map<string, Route>;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** `tls`: serve HTTPS with this PEM key and certificate. */
export async function startFakeAgent(routes: Record<string, Route> = {}, options: { tls?: { key: string; cert: string } } = {}): Promise<FakeAgent> {
  const table = new Map<string, Route>(Object.entries(routes));
  const requests: RecordedRequest[] = [];
  /** Replies still waiting out their delay: dropped on close, so a long delay never outlives the test. */
  const delayed = new Set<NodeJS.Timeout>();
  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = undefined;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      const path = (req.url ?? '/').split('?')[0]!;
      const rec: RecordedRequest = { method: req.method ?? 'GET', path, body, authorization: req.headers.authorization };
      requests.push(rec);
      const route = table.get(`${rec.method} ${path}`);
      const reply: Reply = route === undefined ? { status: 404, body: 'not found' } : typeof route === 'function' ? route(rec) : route;
      const send = () => {
        if (res.destroyed) return;
        const status = reply.status ?? 200;
        if (reply.raw !== undefined) {
          res.writeHead(status, { 'content-type': 'application/json' }).end(reply.raw);
        } else if (typeof reply.body === 'string') {
          res.writeHead(status, { 'content-type': 'text/plain' }).end(reply.body);
        } else {
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body ?? {}));
        }
      };
      if (reply.delayMs) {
        const timer = setTimeout(() => {
          delayed.delete(timer);
          send();
        }, reply.delayMs);
        delayed.add(timer);
      } else send();
    });
  };
  const server = options.tls ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    routes: table,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of delayed) clearTimeout(timer);
        delayed.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A healthy 3-member cluster as /cluster answers it; api_url points at `apiUrl` for every member.
 * `leader` names the leader (running); the others are streaming replicas; node3 is nofailover.
 */
export function threeMemberCluster(apiUrl: string, overrides: { pause?: boolean; leader?: string } = {}) {
  const leader = overrides.leader ?? 'node1';
  const member = (name: string, port: number, extra: Record<string, unknown> = {}) =>
    name === leader
      ? { name, role: 'leader', state: 'running', api_url: `${apiUrl}/patroni`, host: '127.0.0.1', port, timeline: 2, ...extra }
      : { name, role: 'replica', state: 'streaming', api_url: `${apiUrl}/patroni`, host: '127.0.0.1', port, timeline: 2, lag: 0, receive_lag: 0, replay_lag: 0, ...extra };
  return {
    scope: 'demo',
    members: [member('node1', 5433), member('node2', 5434), member('node3', 5435, name3Extra(leader))],
    ...(overrides.pause ? { pause: true } : {}),
  };
}

function name3Extra(leader: string): Record<string, unknown> {
  return leader === 'node3' ? { tags: { nofailover: true } } : { lag: 3 * 1024 * 1024, tags: { nofailover: true } };
}

export const MEMBER_STATUS = {
  state: 'running',
  role: 'primary',
  server_version: 150020,
  timeline: 2,
  database_system_identifier: '7117556723320621508',
  patroni: { version: '0.1.0', scope: 'demo', name: 'node1' },
};

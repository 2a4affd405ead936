// REST access and limits: the start-up refusal for unauthenticated unsafe methods, allowlist (and
// members), Server tokens, extra headers, the total and per-address connection caps.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { unsafeAccessVerdict } from '../../../src/agent/restapi-settings.js';
import { parseConfig } from '../../../src/config/index.js';
import { waitUntil } from '../../helpers/wait.js';
import { FakeAgent, basic, request, startApi } from './fixtures.js';

function config(restapi: string) {
  return parseConfig(
    `scope: s\nname: n\nrestapi:\n${restapi}\nraft:\n  self_addr: 127.0.0.1:5010\n  data_dir: /tmp/x/raft\n  allow_unauthenticated: true\npostgresql:\n  listen: 127.0.0.1:5432\n  connect_address: 127.0.0.1:5432\n  data_dir: /tmp/x\n  authentication:\n    superuser: {username: postgres}\n    replication: {username: r}\n`,
    'ha.yml',
  ).config;
}

/** POST /reload from a chosen loopback source address. */
function postFrom(url: string, localAddress: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', localAddress, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens a raw TCP connection (read and dropped, so a close by the server is seen). */
function openSocket(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress }, () => resolve(s));
    s.resume();
    s.on('error', reject);
  });
}

describe('unauthenticated unsafe methods', () => {
  it('refuses a non-loopback listen without authentication or client certificates, naming the keys', () => {
    const v = unsafeAccessVerdict(config('  listen: 0.0.0.0:8008\n  connect_address: 10.0.0.1:8008'));
    assert.match(v.refuse ?? '', /^restapi\.listen 0\.0\.0\.0:8008 is not a loopback address and neither restapi\.authentication nor restapi\.verify_client protects/);
    assert.match(v.refuse ?? '', /restapi\.allow_unauthenticated_unsafe: true/);
  });

  it('warns once on loopback, and when the unsafe opening is asked for explicitly', () => {
    assert.equal(unsafeAccessVerdict(config('  listen: 127.0.0.1:8008\n  connect_address: 127.0.0.1:8008')).refuse, null);
    assert.match(unsafeAccessVerdict(config('  listen: 127.0.0.1:8008\n  connect_address: 127.0.0.1:8008')).warn ?? '', /any local user can call them/);
    const open = unsafeAccessVerdict(config('  listen: 10.0.0.1:8008\n  connect_address: 10.0.0.1:8008\n  allow_unauthenticated_unsafe: true'));
    assert.equal(open.refuse, null);
    assert.match(open.warn ?? '', /reachable from other hosts/);
  });

  it('is satisfied by authentication or by verify_client with TLS', () => {
    assert.deepEqual(unsafeAccessVerdict(config('  listen: 0.0.0.0:8008\n  connect_address: 10.0.0.1:8008\n  authentication: {username: a, password: b}')), { refuse: null, warn: null });
    const tls = '  listen: 0.0.0.0:8008\n  connect_address: 10.0.0.1:8008\n  certfile: /c.pem\n  keyfile: /k.pem\n  verify_client: required';
    assert.deepEqual(unsafeAccessVerdict(config(tls)), { refuse: null, warn: null });
    assert.ok(unsafeAccessVerdict(config('  listen: 0.0.0.0:8008\n  connect_address: 10.0.0.1:8008\n  verify_client: required')).refuse, 'verify_client without TLS protects nothing');
  });
});

describe('allowlist, headers and connection caps', () => {
  const closers: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of closers) await c();
  });

  it('answers 403 to unsafe calls from outside the allowlist, before asking for credentials', async () => {
    const api = await startApi(new FakeAgent(), { allowlist: ['127.0.0.2', '10.9.0.0/16'], authentication: { username: 'u', password: 'p' } });
    closers.push(api.close);
    const outside = await postFrom(`${api.url}/reload`, '127.0.0.1');
    assert.deepEqual(outside, { status: 403, text: 'Access is denied' });
    assert.equal((await postFrom(`${api.url}/reload`, '127.0.0.2')).status, 401, 'inside the list, Basic auth still applies');
    assert.equal((await postFrom(`${api.url}/reload`, '127.0.0.2', { Authorization: basic('u', 'p') })).status, 202);
    assert.equal((await request(`${api.url}/patroni`)).status, 200, 'GETs are not restricted');
  });

  it('lets the members in with allowlist_include_members', async () => {
    const api = await startApi(new FakeAgent(), { allowlistIncludeMembers: true, memberApiHosts: () => ['127.0.0.3'] });
    closers.push(api.close);
    assert.equal((await postFrom(`${api.url}/reload`, '127.0.0.1')).status, 403);
    assert.equal((await postFrom(`${api.url}/reload`, '127.0.0.3')).status, 202);
  });

  it('refuses an allowlist entry that is no address, network or name', async () => {
    await assert.rejects(startApi(new FakeAgent(), { allowlist: ['10.0.0.0/99'] }), /restapi\.allowlist: "10\.0\.0\.0\/99" is not a network/);
  });

  it('sends server_tokens and the extra headers', async () => {
    const api = await startApi(new FakeAgent(), { serverTokens: 'productonly', extraHeaders: { 'X-Frame-Options': 'SAMEORIGIN' } });
    closers.push(api.close);
    const res = await request(`${api.url}/patroni`);
    assert.equal(res.headers.server, 'hactl');
    assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN');
    const original = await startApi(new FakeAgent(), { serverTokens: 'original' });
    closers.push(original.close);
    assert.equal((await request(`${original.url}/patroni`)).headers.server, undefined);
    const minimal = await startApi(new FakeAgent());
    closers.push(minimal.close);
    assert.equal((await request(`${minimal.url}/patroni`)).headers.server, 'hactl/0.1.0');
  });

  it('closes connections over the per-address cap at once while other addresses are served', async () => {
    const api = await startApi(new FakeAgent(), { maxConnectionsPerAddress: 5 });
    closers.push(api.close);
    const held = await Promise.all(Array.from({ length: 5 }, () => openSocket(api.port)));
    const extra = await openSocket(api.port);
    await waitUntil(() => extra.destroyed || extra.readableEnded, { timeoutMs: 5000, what: 'the server to close the sixth connection from 127.0.0.1' });
    // Another source address still gets answers.
    const other = await new Promise<number>((resolve, reject) => {
      http.get(`${api.url}/patroni`, { localAddress: '127.0.0.2', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(other, 200);
    for (const s of held) s.destroy();
  });

  it('reaps idle connections that never send a request', async () => {
    const api = await startApi(new FakeAgent());
    closers.push(api.close);
    const idle = await openSocket(api.port);
    // headersTimeout (10 s) checked every 2 s: gone well before Node's 30 s default interval.
    await waitUntil(() => idle.destroyed || idle.readableEnded, { timeoutMs: 20_000, intervalMs: 200, what: 'the server to drop a connection that sent nothing' });
  });
});

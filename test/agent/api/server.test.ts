import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiBindError, ApiServer, parseListen } from '../../../src/agent/api/server.js';
import { FakeAgent, basic, request, startApi } from './fixtures.js';

describe('server lifecycle', () => {
  it('parses restapi.listen like Patroni: first host of a list, IPv6 in brackets, empty host = all', () => {
    assert.deepEqual(parseListen('127.0.0.1:8008'), { host: '127.0.0.1', port: 8008 });
    assert.deepEqual(parseListen('10.0.0.1,10.0.0.2:8008'), { host: '10.0.0.1', port: 8008 });
    assert.deepEqual(parseListen('[::1]:8008'), { host: '::1', port: 8008 });
    assert.deepEqual(parseListen(':8008'), { host: undefined, port: 8008 });
    assert.throws(() => parseListen('8008'), /host:port/);
    assert.throws(() => parseListen('h:99999'), /bad port/);
  });

  it('fails to start with a clear error naming the address when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const server = new ApiServer(new FakeAgent(), { listen: `127.0.0.1:${port}`, version: '0.1.0', scope: 'demo', name: 'node1' });
      await assert.rejects(server.start(), (error: unknown) => {
        assert.ok(error instanceof ApiBindError);
        assert.equal(error.message, `REST API cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)`);
        return true;
      });
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('names the missing certificate file', async () => {
    const server = new ApiServer(new FakeAgent(), {
      listen: '127.0.0.1:0',
      version: '0.1.0',
      scope: 'demo',
      name: 'node1',
      certfile: '/nonexistent/cert.pem',
      keyfile: '/nonexistent/key.pem',
    });
    await assert.rejects(server.start(), /cannot read restapi\.certfile \/nonexistent\/cert\.pem/);
  });

  it('stops listening on stop()', async () => {
    const api = await startApi(new FakeAgent());
    assert.equal((await request(`${api.url}/patroni`)).status, 200);
    await api.close();
    await assert.rejects(request(`${api.url}/patroni`), /ECONNREFUSED/);
  });
});

describe('TLS', () => {
  let dir: string;
  const pem: Record<string, Buffer> = {};

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hactl-api-tls-'));
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=test-ca');
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    for (const name of ['server', 'client']) {
      openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', 'san.ext');
    }
    for (const file of ['ca.pem', 'server.pem', 'server.key', 'client.pem', 'client.key']) pem[file] = readFileSync(join(dir, file));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves https with certfile/keyfile', async () => {
    const api = await startApi(new FakeAgent(), { certfile: join(dir, 'server.pem'), keyfile: join(dir, 'server.key') });
    try {
      assert.match(api.url, /^https:\/\//);
      const res = await request(`${api.url}/patroni`, { ca: pem['ca.pem'] });
      assert.equal(res.status, 200);
    } finally {
      await api.close();
    }
  });

  it('verify_client optional: GETs without a certificate, unsafe methods need one (403)', async () => {
    const api = await startApi(new FakeAgent(), {
      certfile: join(dir, 'server.pem'),
      keyfile: join(dir, 'server.key'),
      cafile: join(dir, 'ca.pem'),
      verifyClient: 'optional',
      authentication: { username: 'u', password: 'p' },
    });
    try {
      const ca = pem['ca.pem'];
      assert.equal((await request(`${api.url}/patroni`, { ca })).status, 200);
      const refused = await request(`${api.url}/reload`, { ca, method: 'POST', headers: { Authorization: basic('u', 'p') } });
      assert.deepEqual([refused.status, refused.text], [403, 'client certificate required']);
      const accepted = await request(`${api.url}/reload`, {
        ca,
        cert: pem['client.pem'],
        key: pem['client.key'],
        method: 'POST',
        headers: { Authorization: basic('u', 'p') },
      });
      assert.equal(accepted.status, 202);
    } finally {
      await api.close();
    }
  });
});

describe('shutdown', () => {
  it('cuts a request that is still running after the grace period', async () => {
    const agent = new FakeAgent();
    agent.reload = () => new Promise(() => {}); // never answers
    const api = await startApi(agent);
    const pending = request(`${api.url}/reload`, { method: 'POST' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await api.server.stop(100);
    assert.ok(Date.now() - started < 2000);
    await assert.rejects(pending, /socket hang up|ECONNRESET/);
  });
});

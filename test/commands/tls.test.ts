// hactl against an agent that serves HTTPS with a self-signed certificate (made with openssl for
// the test): refused without the CA, accepted with --cacert or ctl.cacert, or with -k.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MEMBER_STATUS, startFakeAgent, threeMemberCluster, type FakeAgent } from './fake-agent.js';
import { runCli } from './run-cli.js';

const hasOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

describe('agents over HTTPS', { skip: !hasOpenssl && 'openssl is not installed' }, () => {
  let agent: FakeAgent;
  let dir: string;
  let caFile: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hactl-tls-'));
    const key = path.join(dir, 'key.pem');
    caFile = path.join(dir, 'cert.pem');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', caFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    agent = await startFakeAgent({}, { tls: { key: readFileSync(key, 'utf8'), cert: readFileSync(caFile, 'utf8') } });
    agent.routes.set('GET /cluster', { body: threeMemberCluster(agent.url) });
    agent.routes.set('GET /patroni', { body: MEMBER_STATUS });
  });

  after(async () => {
    await agent?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses an unknown certificate and says how to trust it', async () => {
    const r = await runCli(['list', '--api', agent.url]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: no agent reachable \(tried https:\/\/127\.0\.0\.1:\d+: TLS certificate not accepted \(.*\); pass --cacert FILE \(ctl\.cacert\) or -k\)/);
  });

  it('accepts it with --cacert, with ctl.cacert from the config file, and with -k', async () => {
    assert.equal((await runCli(['list', '--api', agent.url, '--cacert', caFile])).code, 0);
    const file = path.join(dir, 'ha.yml');
    writeFileSync(file, `restapi:\n  connect_address: ${agent.url.slice('https://'.length)}\n  certfile: /unused/server.pem\nctl:\n  cacert: ${caFile}\n`);
    const fromConfig = await runCli(['list', '-c', file, '-f', 'tsv']);
    assert.equal(fromConfig.code, 0, fromConfig.stderr);
    assert.equal(fromConfig.stdout.split('\n').length, 5);
    assert.equal((await runCli(['list', '--api', agent.url, '-k'])).code, 0);
  });
});

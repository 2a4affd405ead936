// hactl list / topology / history / show-config / dsn against fake agents (recorded Patroni-shaped
// JSON over real HTTP): formats, agent fallback and the errors an operator sees. Needs `npm run build`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../helpers/net.js';
import { waitUntil, withDeadline } from '../helpers/wait.js';
import { MEMBER_STATUS, startFakeAgent, threeMemberCluster, type FakeAgent } from './fake-agent.js';
import { runCli } from './run-cli.js';

describe('hactl list and the read-only commands (fake agents)', () => {
  let agent: FakeAgent;
  let dead: string;
  let dir: string;

  before(async () => {
    agent = await startFakeAgent();
    agent.routes.set('GET /cluster', { body: threeMemberCluster(agent.url) });
    agent.routes.set('GET /patroni', { body: MEMBER_STATUS });
    agent.routes.set('GET /history', { body: [[1, 50331808, 'no recovery target specified', '2026-11-25T19:38:45.781+00:00', 'node1']] });
    agent.routes.set('GET /config', { body: { ttl: 30, loop_wait: 10, postgresql: { parameters: { max_connections: 100 }, authentication: { superuser: { password: 'su-secret' } } } } });
    dead = `http://127.0.0.1:${await freePort()}`;
    dir = mkdtempSync(path.join(tmpdir(), 'hactl-cli-'));
  });

  after(async () => {
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the member table with the cluster name and system identifier in the border', async () => {
    const r = await runCli(['list', '--api', agent.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(
      r.stdout,
      [
        '+ Cluster: demo (7117556723320621508) ----------+----+-----------+------------------+',
        '| Member | Host           | Role    | State     | TL | Lag in MB | Tags             |',
        '+--------+----------------+---------+-----------+----+-----------+------------------+',
        '| node1  | 127.0.0.1:5433 | Leader  | running   |  2 |           |                  |',
        '| node2  | 127.0.0.1:5434 | Replica | streaming |  2 |         0 |                  |',
        '| node3  | 127.0.0.1:5435 | Replica | streaming |  2 |         3 | nofailover: true |',
        '+--------+----------------+---------+-----------+----+-----------+------------------+',
        '',
      ].join('\n'),
    );
  });

  it('makes one request to an hactl agent (system_identifier in /cluster), GET /patroni only for a Patroni agent', async () => {
    const hactlAgent = await startFakeAgent({
      'GET /cluster': { body: { ...threeMemberCluster('http://127.0.0.1:1'), system_identifier: '7000000000000000001' } },
      'GET /patroni': { body: MEMBER_STATUS },
    });
    try {
      const r = await runCli(['list', '--api', hactlAgent.url]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^\+ Cluster: demo \(7000000000000000001\) -/);
      assert.deepEqual(hactlAgent.requests.map((q) => `${q.method} ${q.path}`), ['GET /cluster']);
    } finally {
      await hactlAgent.close();
    }
    agent.requests.length = 0;
    const patroni = await runCli(['list', '--api', agent.url]);
    assert.match(patroni.stdout, /^\+ Cluster: demo \(7117556723320621508\) -/);
    assert.deepEqual(agent.requests.map((q) => `${q.method} ${q.path}`), ['GET /cluster', 'GET /patroni']);
  });

  it('reads the agent address from the config file (-c) and accepts the cluster name', async () => {
    const file = path.join(dir, 'ha.yml');
    writeFileSync(file, `scope: demo\nrestapi:\n  connect_address: ${agent.url.replace('http://', '')}\n`);
    const r = await runCli(['list', 'demo', '-c', file, '-f', 'tsv']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split('\n')[0], 'Cluster\tMember\tHost\tRole\tState\tTL\tLag in MB\tTags');
    assert.equal(r.stdout.split('\n')[1], 'demo\tnode1\t127.0.0.1:5433\tLeader\trunning\t2\t\t');
  });

  it('asks the next agent when one is down and says which one was unreachable', async () => {
    const r = await runCli(['list', '--api', `${dead},${agent.url}`, '-f', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).length, 3);
    assert.equal(r.stderr, `Warning: agent ${dead} unreachable: connection refused\n`);
  });

  it('moves on from a slow agent after --timeout', async () => {
    // The slow agent answers only after the test is over: a table printed at all means the CLI gave up on it.
    const never = 10 * 60_000;
    const slow = await startFakeAgent({ 'GET /cluster': { body: {}, delayMs: never }, 'GET /patroni': { body: {}, delayMs: never } });
    try {
      const r = await runCli(['list', '--api', `${slow.url},${agent.url}`, '--timeout', '0.5']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`Warning: agent ${slow.url} unreachable: no answer within 0\\.5 s`));
      assert.match(r.stdout, /\+ Cluster: demo/);
    } finally {
      await slow.close();
    }
  });

  it('fails with exit 1 and every address tried when no agent answers', async () => {
    const r = await runCli(['list', '--api', dead]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `Error: no agent reachable (tried ${dead}: connection refused)\n`);
  });

  it('fails on malformed JSON with the agent named', async () => {
    const broken = await startFakeAgent({ 'GET /cluster': { raw: '{"members": [' }, 'GET /patroni': { raw: 'nope' } });
    try {
      const r = await runCli(['list', '--api', broken.url]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^Error: agent ${broken.url} sent an invalid response: not JSON`));
    } finally {
      await broken.close();
    }
  });

  it('fails when the CLUSTER argument names another cluster', async () => {
    const r = await runCli(['list', 'other', '--api', agent.url]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error: cluster other not found: the agents serve cluster demo\n');
  });

  it('fails on an unreadable config file and on bad flags', async () => {
    const missing = await runCli(['list', '-c', path.join(dir, 'nope.yml')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Error: .*nope\.yml: cannot read configuration file: no such file/);
    const badFormat = await runCli(['list', '--api', agent.url, '-f', 'xml']);
    assert.notEqual(badFormat.code, 0);
    assert.match(badFormat.stderr, /xml/);
    const badUrl = await runCli(['list', '--api', 'ftp://x:1']);
    assert.equal(badUrl.code, 1);
    assert.match(badUrl.stderr, /^Error: invalid agent address ftp:\/\/x:1/);
  });

  it('says where to look when no agent is configured at all', async () => {
    const file = path.join(dir, 'empty-ctl.yml');
    writeFileSync(file, 'scope: demo\n');
    const r = await runCli(['list', '-c', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: no agent to ask: pass --api URL or -c FILE with restapi.connect_address/);
  });

  it('topology indents replicas under the leader', async () => {
    const r = await runCli(['topology', '--api', agent.url]);
    assert.equal(r.code, 0, r.stderr);
    const names = r.stdout.split('\n').slice(3, 6).map((l) => l.split('|')[1]!.trim());
    assert.deepEqual(names, ['node1', '+ node2', '+ node3']);
  });

  it('-W refreshes until interrupted', async () => {
    const { spawn } = await import('node:child_process');
    const { BIN } = await import('./run-cli.js');
    const child = spawn(process.execPath, [BIN, 'list', '--api', agent.url, '-W', '0.2'], { env: { PATH: process.env.PATH, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (code, signal) => resolve([code, signal])));
    try {
      // Two tables drawn means it refreshed; how long the CLI takes to get there depends on the machine.
      await waitUntil(() => (out.match(/\+ Cluster: demo/g) ?? []).length >= 2, { timeoutMs: 30_000, what: `two tables from hactl list -W (stdout so far: ${out.length} bytes)` });
    } finally {
      child.kill('SIGINT');
    }
    const [code, signal] = await withDeadline(closed, 10_000, 'hactl list -W to exit on SIGINT');
    assert.ok(code === 0 || code === 130 || signal === 'SIGINT', `exit ${code} signal ${signal}`);
  });

  it('history prints the timeline switches; show-config redacts secrets; dsn prints host and port', async () => {
    const h = await runCli(['history', '--api', agent.url]);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /\| {2}1 \| 0\/30000A0 \| no recovery target specified \| 2026-11-25T19:38:45\.781\+00:00 \| node1 {6}\|/);
    const c = await runCli(['show-config', '--api', agent.url]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /^loop_wait: 10\n/);
    assert.match(c.stdout, /password: "\*\*\*\*\*\*"|password: '\*\*\*\*\*\*'/);
    assert.doesNotMatch(c.stdout, /su-secret/);
    const d = await runCli(['dsn', '--api', agent.url]);
    assert.equal(d.stdout, 'host=127.0.0.1 port=5433\n');
    const r = await runCli(['dsn', '--api', agent.url, '--role', 'replica']);
    assert.equal(r.stdout, 'host=127.0.0.1 port=5434\n');
    const both = await runCli(['dsn', 'node2', '--api', agent.url, '--role', 'replica']);
    assert.equal(both.code, 1);
    assert.equal(both.stderr, 'Error: --role and MEMBER are mutually exclusive\n');
  });

  it("takes patronictl's spellings: list -t (timestamp line), dsn -m MEMBER, -w SECS exclusive with -W", async () => {
    const t = await runCli(['list', '-t', '-f', 'tsv', '--api', agent.url]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout.split('\n')[0]!, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    assert.equal(t.stdout.split('\n')[1], 'Cluster\tMember\tHost\tRole\tState\tTL\tLag in MB\tTags');
    const m = await runCli(['dsn', '-m', 'node3', '--api', agent.url]);
    assert.equal(m.stdout, 'host=127.0.0.1 port=5435\n');
    const both = await runCli(['list', '-w', '1', '-W', '--api', agent.url]);
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /--watch-every=1 cannot also be provided when using --watch|cannot also be provided/);
  });

  it('version prints the CLI version and each member\'s hactl and PostgreSQL versions', async () => {
    const r = await runCli(['version', '--api', agent.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hactl version 0.1.0\n\nnode1: hactl 0.1.0 PostgreSQL 15.20\nnode2: hactl 0.1.0 PostgreSQL 15.20\nnode3: hactl 0.1.0 PostgreSQL 15.20\n');
    const alone = await runCli(['version', '-c', '/dev/null']);
    assert.equal(alone.stdout, 'hactl version 0.1.0\n');
  });
});

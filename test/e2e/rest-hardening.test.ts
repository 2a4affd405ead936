// The REST API under abuse, on a real agent: it refuses to start open to the network without
// authentication (the message names the key), and while it is flooded — random methods, paths and
// bodies, oversized headers, 1,000 idle sockets, slowloris — it keeps answering GET /patroni to another
// client and its HA loop keeps renewing the leader key.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { BIN, REPO_ROOT, TestCluster } from '../helpers/cluster.js';
import { Rng } from '../helpers/prng.js';
import { sleep, SUITE_MS, waitUntil, withDeadline } from '../helpers/wait.js';

const clusters: TestCluster[] = [];
after(async () => {
  for (const c of clusters) await c.destroy();
});

const REST_AUTH = { HACTL_RESTAPI_USERNAME: 'fuzz-admin', HACTL_RESTAPI_PASSWORD: 'fuzz-secret' };

describe('REST hardening', { timeout: SUITE_MS }, () => {
  it('refuses to start on a non-loopback address without authentication, naming the key to set', async () => {
    const cluster = await TestCluster.create({ size: 1 });
    clusters.push(cluster);
    const node = cluster.nodes[0]!;
    const yaml = await fs.readFile(node.configPath, 'utf8');
    await fs.writeFile(node.configPath, yaml.replace(`listen: ${node.host}:${node.apiPort}`, `listen: 0.0.0.0:${node.apiPort}`), { mode: 0o600 });
    const agent = cluster.startAgent(node.name);
    const code = await withDeadline(agent.exited, 60_000, `the agent to refuse to start; output:\n${agent.output()}`);
    assert.equal(code, 1, agent.output());
    assert.match(agent.output(), /restapi\.listen 0\.0\.0\.0:\d+ is not a loopback address and neither restapi\.authentication nor restapi\.verify_client protects/);
    assert.match(agent.output(), /restapi\.allow_unauthenticated_unsafe: true/);
    assert.doesNotMatch(agent.output(), /REST API listening|raft: member/, 'nothing was started');
    const validate = spawnSync(process.execPath, [BIN, 'agent', '--validate-config', '-i', '-c', node.configPath], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(validate.status, 1, validate.stderr);
    assert.match(validate.stderr, /ha\.yml:\d+:\d+: restapi\.listen 0\.0\.0\.0:\d+ is not a loopback address/);
  });

  it('keeps answering GET /patroni and renewing the leader key while the REST API is flooded', async () => {
    const cluster = await TestCluster.create({ size: 1 });
    clusters.push(cluster);
    const node = cluster.nodes[0]!;
    const agent = cluster.startAgent(node.name, REST_AUTH);
    const base = `http://${node.host}:${node.apiPort}`;
    await waitUntil(async () => (await getPatroni(base, '127.0.0.2', 2000)).role === 'primary', {
      timeoutMs: 120_000,
      intervalMs: 500,
      what: 'node1 to run as primary',
    }).catch((err: Error) => assert.fail(`${err.message}\n${agent.output()}`));

    const seed = Number(process.env.HACTL_FUZZ_SEED ?? Date.now() % 100_000);
    const rng = new Rng(seed);
    const renewalsBefore = countRenewals(agent.output());
    const deadline = Date.now() + 15_000;
    const sockets: net.Socket[] = [];
    const probes: Array<{ ok: boolean; ms: number; why?: string }> = [];
    try {
      // 1,000 idle sockets from 127.0.0.1 (the per-address cap closes most of them at once).
      for (let i = 0; i < 1000; i++) sockets.push(rawSocket(node.apiPort, '127.0.0.1'));
      // Slowloris from 127.0.0.3: a header line every 300 ms, never finished.
      const slow = Array.from({ length: 40 }, () => rawSocket(node.apiPort, '127.0.0.3'));
      sockets.push(...slow);
      const slowloris = (async () => {
        for (let i = 0; Date.now() < deadline; i++) {
          for (const s of slow) if (!s.destroyed) s.write(i === 0 ? 'GET /patroni HTTP/1.1\r\nHost: x\r\n' : `X-Slow-${i}: ${'a'.repeat(10)}\r\n`);
          await sleep(300);
        }
      })();
      const fuzz = (async () => {
        while (Date.now() < deadline) await Promise.all(Array.from({ length: 8 }, () => randomRequest(rng, node.host, node.apiPort)));
      })();
      // The prober, from its own address: every answer within 5 s.
      const prober = (async () => {
        while (Date.now() < deadline) {
          const began = Date.now();
          try {
            const body = await getPatroni(base, '127.0.0.2', 5000);
            probes.push({ ok: body.role === 'primary', ms: Date.now() - began, why: body.role === 'primary' ? undefined : `role ${String(body.role)}` });
          } catch (err) {
            probes.push({ ok: false, ms: Date.now() - began, why: (err as Error).message });
          }
          await sleep(250);
        }
      })();
      await Promise.all([slowloris, fuzz, prober]);
    } finally {
      for (const s of sockets) s.destroy();
    }
    const failed = probes.filter((p) => !p.ok);
    assert.ok(probes.length >= 10, `only ${probes.length} probes ran`);
    assert.deepEqual(failed, [], `GET /patroni failed during the flood (seed ${seed}; rerun with HACTL_FUZZ_SEED=${seed})`);
    // loop_wait is 1 s: a loop that kept renewing logged its status line many times in 15 s.
    const renewals = countRenewals(agent.output()) - renewalsBefore;
    assert.ok(renewals >= 5, `the HA loop renewed the leader key ${renewals} times in 15 s of flooding (seed ${seed})\n${agent.output().slice(-3000)}`);
    assert.doesNotMatch(agent.output(), /fuzz-secret/, 'the REST password never reaches the log');
    // Still the same primary, and the process never restarted.
    assert.equal(agent.hasExited, false);
  });
});

function countRenewals(output: string): number {
  return (output.match(/the leader with the lock/g) ?? []).length;
}

function rawSocket(port: number, localAddress: string): net.Socket {
  const s = net.connect({ host: '127.0.0.1', port, localAddress });
  s.on('error', () => {}); // the server closing over-cap connections is the point
  s.resume();
  return s;
}

function getPatroni(base: string, localAddress: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}/patroni`, { localAddress, agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => {
        try {
          resolve(JSON.parse(text) as Record<string, unknown>);
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'FOO', 'CONNECT'];
const PATHS = ['/', '/patroni', '/cluster', '/config', '/switchover', '/failover', '/restart', '/reinitialize', '/reload', '/history', '/metrics', '/primary?lag=abc', '/read-only?lag=-1', '/%00', '/../../etc/passwd', '//x', '/restart?x=' + '%ff'.repeat(50)];

/** One random request on a raw socket (so malformed ones can be sent), answered or closed within 10 s. */
function randomRequest(rng: Rng, host: string, port: number): Promise<void> {
  const method = rng.pick(METHODS);
  const path = rng.chance(0.8) ? rng.pick(PATHS) : '/' + Array.from({ length: rng.int(1, 40) }, () => String.fromCharCode(rng.int(33, 127))).join('');
  const kind = rng.int(0, 6);
  let body = '';
  if (kind === 1) body = JSON.stringify({ leader: 'node1', candidate: rng.pick(['node1', 'nobody', '']), scheduled_at: rng.pick(['', 'tomorrow', '2999-01-01T00:00:00Z']) });
  if (kind === 2) body = Array.from({ length: rng.int(1, 2000) }, () => String.fromCharCode(rng.int(0, 256))).join('');
  if (kind === 3) body = '{"ttl": "' + 'x'.repeat(rng.int(1, 5000)) + '"';
  const headers = [`${method} ${path} HTTP/1.1`, `Host: ${host}`];
  if (kind === 4) headers.push(`X-Big: ${'b'.repeat(rng.int(20_000, 80_000))}`); // beyond the 16 KiB header limit
  if (kind === 5) headers.push(`Content-Length: ${rng.int(0, 3) === 0 ? '99999999' : String(body.length + rng.int(-5, 5))}`);
  else if (body) headers.push(`Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
  if (rng.chance(0.3)) headers.push('Authorization: Basic ' + Buffer.from(`fuzz-admin:${rng.pick(['wrong', ''])}`).toString('base64'));
  headers.push('Connection: close');
  const raw = Buffer.from(`${headers.join('\r\n')}\r\n\r\n${body}`, 'latin1');
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.4' });
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    };
    const timer = setTimeout(done, 10_000);
    s.on('error', done);
    s.on('close', done);
    s.resume();
    s.end(raw);
  });
}

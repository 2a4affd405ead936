// The fence process on its own, against a real PostgreSQL: a passed deadline kills the postmaster
// and every backend at once and leaves a record; disarm prevents it; kill -9 of the agent does not
// stop it; a fence that dies is restarted by the client with the last deadline.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import pg from 'pg';
import { FenceClient } from '../../../src/agent/fence/client.js';
import type { FencedRecord } from '../../../src/agent/fence/protocol.js';
import { cleanupPostgres, startPrimary, type TestServer } from '../../helpers/postgres.js';
import { ProcessRegistry } from '../../helpers/process.js';
import { REPO_ROOT } from '../../helpers/cluster.js';
import { sleep, waitUntil } from '../../helpers/wait.js';

const registry = new ProcessRegistry();
const clients: FenceClient[] = [];

after(async () => {
  for (const c of clients) await c.stop().catch(() => {});
  await registry.killAll();
  registry.dispose();
  await cleanupPostgres();
});

/** Running (a killed process stays a zombie until init reaps it, which can take a while in a container). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function postmasterOf(server: TestServer): number {
  return Number(readFileSync(path.join(server.options.data_dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** Pids of the server's backends and auxiliary processes (children of the postmaster). */
function childrenOf(pid: number): number[] {
  const text = (() => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
    } catch {
      return '';
    }
  })();
  return text.split(/\s+/).filter(Boolean).map(Number);
}

function newClient(server: TestServer, extra: Partial<ConstructorParameters<typeof FenceClient>[0]> = {}): FenceClient {
  const recordFile = path.join(server.base, 'fenced.json');
  const client = new FenceClient({
    settings: { mode: 'on', safetyMarginMs: 0, recordFile, logFile: path.join(server.base, 'fence.log'), pidFile: path.join(server.base, 'fence.pid'), trippedWatchMs: 1000 },
    logger: { info() {}, warn() {}, error() {} },
    forwardLine: () => {},
    ...extra,
  });
  clients.push(client);
  return client;
}

describe('fence process', { timeout: 120_000 }, () => {
  it('kills the postmaster and all its backends right after the deadline and writes a record', async () => {
    const server = await startPrimary();
    const pm = postmasterOf(server);
    const session = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres' });
    session.on('error', () => {});
    await session.connect();
    const backend = Number((await session.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p);
    const children = childrenOf(pm);
    assert.ok(children.includes(backend), 'the session backend is a child of the postmaster');

    let event: FencedRecord | null = null;
    const client = newClient(server, { onFenced: (r) => (event = r) });
    await client.start();
    const deadline = performance.now() + 400;
    const ack = await client.arm(deadline, server.options.data_dir, 'test');
    assert.equal(ack?.armed, true);
    await sleep(250);
    assert.ok(alive(pm), 'still running before the deadline');
    await waitUntil(() => !alive(pm), { timeoutMs: 3000, intervalMs: 5, what: 'the postmaster to die' });
    const killedAfterMs = performance.now() - deadline;
    assert.ok(killedAfterMs < 200, `killed ${killedAfterMs.toFixed(0)} ms after the deadline`);
    // SIGKILL is delivered asynchronously: give the kernel a moment to finish each exit.
    await waitUntil(() => children.every((c) => !alive(c)), { timeoutMs: 500, intervalMs: 5, what: `children ${children.join(', ')} to die (${children.filter(alive).map((c) => { try { return readFileSync(`/proc/${c}/stat`, 'utf8').slice(0, 60); } catch { return c; } }).join('; ')})` });
    await assert.rejects(session.query('SELECT 1'), 'the session is gone');

    // The event is sent after the record is written and the line logged.
    await waitUntil(() => event, { timeoutMs: 1000, what: 'the fenced event' });
    const record = JSON.parse(readFileSync(path.join(server.base, 'fenced.json'), 'utf8')) as FencedRecord;
    assert.equal(record.postmasterPid, pm);
    assert.equal(record.dataDir, server.options.data_dir);
    assert.equal(record.agentConnected, true);
    assert.ok(record.lateByMs >= 0 && record.lateByMs < 100, `late by ${record.lateByMs} ms`);
    assert.ok(record.killedPids.includes(backend));
    assert.match(readFileSync(path.join(server.base, 'fence.log'), 'utf8'), /CRITICAL: fence\[\d+\]: killed PostgreSQL \(postmaster \d+/);
    assert.equal(client.armed, false, 'a kill disarms');
    assert.equal(client.live, true, 'the fence stays up while the agent is connected');
  });

  it('does nothing after disarm, and a re-arm moves the deadline', async () => {
    const server = await startPrimary();
    const pm = postmasterOf(server);
    const client = newClient(server);
    await client.start();
    await client.arm(performance.now() + 300, server.options.data_dir, 'test');
    await client.arm(performance.now() + 600, server.options.data_dir, 'test');
    await sleep(400);
    assert.ok(alive(pm), 're-arm moved the deadline later');
    const state = await client.disarm('test over');
    assert.equal(state?.armed, false);
    await sleep(500);
    assert.ok(alive(pm), 'disarmed: no kill');
    assert.ok(!existsSync(path.join(server.base, 'fenced.json')));
    await client.stop();
  });

  it('an arm whose deadline already passed fences at once', async () => {
    const server = await startPrimary();
    const pm = postmasterOf(server);
    const client = newClient(server);
    await client.start();
    const t0 = performance.now();
    await client.arm(t0 - 1, server.options.data_dir, 'stale renewal');
    await waitUntil(() => !alive(pm), { timeoutMs: 1000, intervalMs: 2, what: 'the postmaster to die' });
    assert.ok(performance.now() - t0 < 100);
  });

  it('still enforces the deadline after kill -9 of the agent, then exits', async () => {
    const server = await startPrimary();
    const pm = postmasterOf(server);
    const recordFile = path.join(server.base, 'fenced.json');
    const stub = registry.spawn('agent-stub', process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/agent/fence/fixtures/agent-stub.ts'), recordFile, server.options.data_dir, '1500'], {
      cwd: REPO_ROOT,
    });
    const first = await new Promise<string>((resolve) => readline.createInterface({ input: stub.child.stdout! }).once('line', resolve));
    const { fencePid } = JSON.parse(first) as { fencePid: number };
    const killedAt = performance.now();
    stub.signal('SIGKILL');
    await stub.exited;
    assert.ok(alive(pm) && alive(fencePid), 'PostgreSQL and the fence outlive the agent');
    await waitUntil(() => !alive(pm), { timeoutMs: 5000, intervalMs: 10, what: 'the postmaster to die' });
    assert.ok(performance.now() - killedAt > 1000, 'not before the deadline');
    // Written right after the kill (fsync, rename).
    const record = await waitUntil(() => (existsSync(recordFile) ? (JSON.parse(readFileSync(recordFile, 'utf8')) as FencedRecord) : null), { timeoutMs: 2000, what: 'the record' });
    assert.equal(record.agentConnected, false);
    assert.match(record.reason, /after the agent died/);
    await waitUntil(() => !alive(fencePid), { timeoutMs: 5000, what: 'the orphaned fence to exit after its watch' });
  });

  it('a fence that was killed is restarted by ensureLive and re-armed with the last deadline', async () => {
    const server = await startPrimary();
    const pm = postmasterOf(server);
    let died = 0;
    const client = newClient(server, { onDied: () => died++ });
    await client.start();
    const firstPid = client.pid!;
    await client.arm(performance.now() + 1500, server.options.data_dir, 'test');
    process.kill(firstPid, 'SIGKILL');
    await waitUntil(() => died > 0, { timeoutMs: 2000, what: 'the client to notice' });
    assert.equal(client.live, false);
    assert.equal(await client.ensureLive(), true);
    assert.notEqual(client.pid, firstPid);
    assert.equal(client.restarts, 1);
    await waitUntil(() => !alive(pm), { timeoutMs: 5000, intervalMs: 10, what: 'the restarted fence to enforce the old deadline' });
  });
});

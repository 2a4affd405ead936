// The fence process on its own, against a real PostgreSQL: a passed deadline kills the postmaster
// and every backend at once and leaves a record; disarm prevents it; kill -9 of the agent does not
// stop it; a fence that dies is restarted by the client with the last deadline.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import pg from 'pg';
import { FenceClient } from '../../../src/agent/fence/client.js';
import type { FencedRecord } from '../../../src/agent/fence/protocol.js';
import { cleanupPostgres, startPrimary, type TestServer } from '../../helpers/postgres.js';
import { ProcessRegistry } from '../../helpers/process.js';
import { REPO_ROOT } from '../../helpers/cluster.js';
import { LIVENESS_MS, SUITE_MS, waitUntil } from '../../helpers/wait.js';
import { holderMsToNs, holderNowMs } from '../../../src/agent/fence/holder-clock.js';

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

/**
 * Sample `alive(pid)` until it is dead (bounded by LIVENESS_MS), each sample stamped with the host's
 * CLOCK_MONOTONIC (the fence's clock) read after it.
 */
async function sampleUntilDead(pid: number): Promise<{ atNs: bigint; dead: boolean }[]> {
  const samples: { atNs: bigint; dead: boolean }[] = [];
  await waitUntil(
    () => {
      const dead = !alive(pid);
      samples.push({ atNs: process.hrtime.bigint(), dead });
      return dead;
    },
    { timeoutMs: LIVENESS_MS, intervalMs: 10, what: `postmaster ${pid} to die after the deadline` },
  );
  return samples;
}

/**
 * Every sample taken before the fence's deadline saw the process alive — an order, not a speed: a
 * loaded machine only makes samples later, so fewer of them count. Returns how many counted.
 */
function assertAliveBefore(samples: { atNs: bigint; dead: boolean }[], record: FencedRecord): number {
  const before = samples.filter((x) => x.atNs < BigInt(record.deadlineMonoNs));
  assert.deepEqual(before.filter((x) => x.dead), [], 'dead before the deadline');
  return before.length;
}

/** The fence's own account, on the host's CLOCK_MONOTONIC: the kill came after the deadline. */
function assertNotEarly(record: FencedRecord): void {
  assert.ok(BigInt(record.fencedAtMonoNs) >= BigInt(record.deadlineMonoNs), `fenced at ${record.fencedAtMonoNs} ns, deadline ${record.deadlineMonoNs} ns`);
  assert.ok(record.lateByMs >= 0, `late by ${record.lateByMs} ms`);
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

describe('fence process', { timeout: SUITE_MS }, () => {
  it('kills the postmaster and all its backends after the deadline (not before) and writes a record', async (t) => {
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
    const ack = await client.arm(holderNowMs() + 1000, server.options.data_dir, 'test');
    assert.equal(ack?.armed, true);
    const samples = await sampleUntilDead(pm);
    // SIGKILL is delivered asynchronously: each child finishes its exit on its own time.
    await waitUntil(() => children.every((c) => !alive(c)), { timeoutMs: LIVENESS_MS, intervalMs: 5, what: `children ${children.join(', ')} to die (${children.filter(alive).map((c) => { try { return readFileSync(`/proc/${c}/stat`, 'utf8').slice(0, 60); } catch { return c; } }).join('; ')})` });
    await assert.rejects(session.query('SELECT 1'), 'the session is gone');

    // The event is sent after the record is written and the line logged.
    await waitUntil(() => event, { timeoutMs: LIVENESS_MS, what: 'the fenced event' });
    const record = JSON.parse(readFileSync(path.join(server.base, 'fenced.json'), 'utf8')) as FencedRecord;
    assert.equal(record.postmasterPid, pm);
    assert.equal(record.dataDir, server.options.data_dir);
    assert.equal(record.agentConnected, true);
    // How late is timer and scheduling latency: measured in bench/, not bounded here.
    assertNotEarly(record);
    t.diagnostic(`${assertAliveBefore(samples, record)} samples before the deadline saw the postmaster alive`);
    assert.ok(record.killedPids.includes(backend));
    assert.match(readFileSync(path.join(server.base, 'fence.log'), 'utf8'), /CRITICAL: fence\[\d+\]: killed PostgreSQL \(postmaster \d+/);
    assert.equal(client.armed, false, 'a kill disarms');
    assert.equal(client.live, true, 'the fence stays up while the agent is connected');
  });

  it('does nothing after disarm, and a re-arm moves the deadline', async (t) => {
    const server = await startPrimary();
    const pm = postmasterOf(server);
    const client = newClient(server);
    await client.start();
    // Each check is conclusive only if the fence acknowledged the change before the deadline it
    // replaces (it acts on a message before acking it); a machine too loaded for that is reported.
    // MARGIN: the fence's copy of a deadline may be a little earlier than ours (deadline.ts rounds so).
    const MARGIN = 200;
    const first = holderNowMs() + 1000;
    await client.arm(first, server.options.data_dir, 'test');
    const second = holderNowMs() + 3000;
    await client.arm(second, server.options.data_dir, 'test');
    if (holderNowMs() >= first - MARGIN) return t.skip('the re-arm was acknowledged too close to the first deadline (machine too loaded to tell)');
    await waitUntil(() => holderNowMs() > first + MARGIN, { timeoutMs: LIVENESS_MS, intervalMs: 20, what: 'the first deadline to pass' });
    const stillAlive = alive(pm);
    if (holderNowMs() < second - MARGIN) assert.ok(stillAlive, 're-arm moved the deadline later');
    const state = await client.disarm('test over');
    assert.equal(state?.armed, false);
    if (holderNowMs() >= second - MARGIN) return t.skip('the disarm was acknowledged too close to the second deadline (machine too loaded to tell)');
    await waitUntil(() => holderNowMs() > second + 500, { timeoutMs: LIVENESS_MS, intervalMs: 20, what: 'the second deadline to pass' });
    assert.ok(alive(pm), 'disarmed: no kill');
    assert.ok(!existsSync(path.join(server.base, 'fenced.json')));
    await client.stop();
  });

  it('an arm whose deadline already passed fences at once: before the arm is acknowledged', async () => {
    const server = await startPrimary();
    const pm = postmasterOf(server);
    const client = newClient(server);
    await client.start();
    const ack = await client.arm(holderNowMs() - 1, server.options.data_dir, 'stale renewal');
    // The fence handles the arm (and so the kill and its record) before it sends the ack.
    assert.equal(ack?.armed, false, 'already fired when acknowledged');
    assert.ok(existsSync(path.join(server.base, 'fenced.json')), 'the record is written before the ack');
    assertNotEarly(JSON.parse(readFileSync(path.join(server.base, 'fenced.json'), 'utf8')) as FencedRecord);
    await waitUntil(() => !alive(pm), { timeoutMs: LIVENESS_MS, intervalMs: 2, what: 'the SIGKILLed postmaster to finish exiting' });
  });

  it('an arm sent before the agent heard of a kill (a renewal that crossed the deadline) is refused; the next one arms', async () => {
    // Seen in a suite run: the agent's renewal landed as the deadline passed; its arm reached the fence
    // after the kill and re-armed it, and that deadline then killed the replica the agent started next.
    const server = await startPrimary();
    const pm = postmasterOf(server);
    let child: ChildProcess | null = null;
    const client = newClient(server, {
      spawn: ((command: string, args: string[], options: SpawnOptions) => (child = nodeSpawn(command, args, options))) as typeof nodeSpawn,
    });
    await client.start();
    assert.equal((await client.arm(holderNowMs() - 1, server.options.data_dir, 'late renewal'))?.armed, false, 'fired at once');
    await waitUntil(() => !alive(pm), { timeoutMs: LIVENESS_MS, intervalMs: 5, what: 'the postmaster to die' });
    await waitUntil(() => client.lastFenced !== null, { timeoutMs: LIVENESS_MS, what: 'the fenced event' });
    // The crossing arm, as an agent that had not yet read the `fenced` event sent it.
    const crossing = { type: 'arm', seq: 1_000_000, dataDir: server.options.data_dir, postmasterPid: null, deadlineMonoNs: String(BigInt(Math.round((holderNowMs() + 60_000) * 1e6))), reason: 'renewal that crossed the kill', fencedSeen: 0 };
    child!.stdin!.write(`${JSON.stringify(crossing)}\n`);
    await waitUntil(() => readFileSync(path.join(server.base, 'fence.log'), 'utf8').includes('not armed (renewal that crossed the kill)'), { timeoutMs: LIVENESS_MS, what: 'the refusal in the fence log' });
    assert.equal(await client.ensureLive(), true);
    assert.equal(client.armed, false);
    const next = await client.arm(holderNowMs() + 60_000, server.options.data_dir, 'renewal after the agent saw the kill');
    assert.equal(next?.armed, true, 'an arm that knows of the kill arms');
    assert.equal((await client.disarm('test over'))?.armed, false);
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
    stub.signal('SIGKILL');
    await stub.exited;
    assert.ok(alive(fencePid), 'the fence outlives the agent');
    await waitUntil(() => !alive(pm), { timeoutMs: LIVENESS_MS, intervalMs: 10, what: 'the postmaster to die' });
    // Written right after the kill (fsync, rename). The order that matters, from the fence's own
    // account: the agent was gone (not connected) when the kill came, and the kill was not early.
    const record = await waitUntil(() => (existsSync(recordFile) ? (JSON.parse(readFileSync(recordFile, 'utf8')) as FencedRecord) : null), { timeoutMs: LIVENESS_MS, what: 'the record' });
    assert.equal(record.agentConnected, false);
    assert.match(record.reason, /after the agent died/);
    assertNotEarly(record);
    await waitUntil(() => !alive(fencePid), { timeoutMs: LIVENESS_MS, what: 'the orphaned fence to exit after its watch' });
  });

  it('a starved fence that wakes past the deadline takes in the renewal waiting in its pipe before any kill', async () => {
    const server = await startPrimary();
    const pm = postmasterOf(server);
    // The fence's event loop blocks for 3 s right after the first arm (as on a host that starves it
    // of CPU), so its timer is overdue when it runs again — and Node runs due timers before it reads I/O.
    // The first deadline leaves the fence 1.5 s to read that arm (else it fences at once, rightly).
    const client = newClient(server, { testStallOnceMs: 3000 });
    await client.start();
    await client.arm(holderNowMs() + 1500, server.options.data_dir, 'renewal before the stall');
    const later = holderNowMs() + 60_000;
    await client.arm(later, server.options.data_dir, 'renewal sent during the stall');
    const expected = String(holderMsToNs(later));
    await waitUntil(() => client.answeredState?.deadlineMonoNs === expected || !alive(pm), { timeoutMs: LIVENESS_MS, what: 'the fence to answer the second arm' });
    assert.ok(alive(pm), `the fence killed PostgreSQL on the replaced deadline: ${readFileSync(path.join(server.base, 'fence.log'), 'utf8')}`);
    assert.equal(client.lastFenced, null);
    assert.equal(existsSync(path.join(server.base, 'fenced.json')), false);
    assert.equal((await client.disarm('test over'))?.armed, false);
  });

  it('a fence that is slow to answer is kept; one that is stopped, or silent past hangAfterMs, is restarted', async () => {
    const server = await startPrimary();
    const slow = newClient(server, { testStallOnceMs: 2000 });
    await slow.start();
    const slowPid = slow.pid!;
    await slow.arm(holderNowMs() + 60_000, server.options.data_dir, 'test');
    // Busy for 2 s: no answer within the loop's wait, but running and silent for less than hangAfterMs (5 s).
    assert.equal(await slow.ensureLive(), true);
    assert.equal(slow.restarts, 0);
    assert.equal(slow.pid, slowPid);
    assert.equal((await slow.disarm('test over'))?.armed, false);
    await slow.stop();

    const stopped = newClient(server);
    await stopped.start();
    const stoppedPid = stopped.pid!;
    process.kill(stoppedPid, 'SIGSTOP');
    assert.equal(await stopped.ensureLive(), true);
    assert.equal(stopped.restarts, 1, 'a stopped fence is replaced at once');
    assert.notEqual(stopped.pid, stoppedPid);
    await waitUntil(() => !alive(stoppedPid), { timeoutMs: LIVENESS_MS, what: 'the stopped fence to be killed' });
    await stopped.stop();

    const silent = newClient(server, { testStallOnceMs: 3000, hangAfterMs: 300 });
    await silent.start();
    await silent.arm(holderNowMs() + 60_000, server.options.data_dir, 'test');
    assert.equal(await silent.ensureLive(), true);
    assert.equal(silent.restarts, 1, 'silent for longer than hangAfterMs: taken for hung');
    // The new fence stalls too (same options): disarm once it answers, so nothing stays armed.
    await waitUntil(async () => (await silent.disarm('test over'))?.armed === false, { timeoutMs: LIVENESS_MS, what: 'the restarted fence to disarm' });
  });

  it('loads the store client for a release while idle after start, before any arm', async () => {
    const server = await startPrimary();
    const client = newClient(server, { store: 'etcd3' });
    await client.start();
    const log = path.join(server.base, 'fence.log');
    await waitUntil(() => /INFO: fence\[\d+\]: loaded the etcd3 client for a release of the leader key in \d+ ms/.test(readFileSync(log, 'utf8')), { timeoutMs: LIVENESS_MS, what: 'the fence to load the etcd3 client' });
    assert.equal(client.answeredState?.armed, false, 'loaded with nothing armed');
    await client.stop();
  });

  it('a fence that was killed is restarted by ensureLive and re-armed with the last deadline', async () => {
    const server = await startPrimary();
    const pm = postmasterOf(server);
    let died = 0;
    const client = newClient(server, { onDied: () => died++ });
    await client.start();
    const firstPid = client.pid!;
    await client.arm(holderNowMs() + 1500, server.options.data_dir, 'test');
    process.kill(firstPid, 'SIGKILL');
    await waitUntil(() => died > 0, { timeoutMs: LIVENESS_MS, what: 'the client to notice' });
    assert.equal(client.live, false);
    assert.equal(await client.ensureLive(), true);
    assert.notEqual(client.pid, firstPid);
    assert.equal(client.restarts, 1);
    await waitUntil(() => !alive(pm), { timeoutMs: LIVENESS_MS, intervalMs: 10, what: 'the restarted fence to enforce the old deadline' });
  });
});

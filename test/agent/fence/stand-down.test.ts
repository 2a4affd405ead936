// Issue 13 item 4 against a real PostgreSQL and the real fence process: the holder clock includes
// suspend (a fence that slept through its deadline kills within HOLDER_RECHECK_MS of waking, not
// after the rest of a timer that counted CLOCK_MONOTONIC), and the fence stands down only when it
// sees for itself that nothing runs in the data directory — an unreadable pg_control, which the
// agent reads as "stopped", is not such an observation.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FenceClient } from '../../../src/agent/fence/client.js';
import { FenceController } from '../../../src/agent/fence/controller.js';
import { describeRunning, nothingRuns, observeDataDir } from '../../../src/agent/fence/data-dir-processes.js';
import { HOLDER_RECHECK_MS, holderNowMs } from '../../../src/agent/fence/holder-clock.js';
import { observeLocal } from '../../../src/agent/ha/inputs.js';
import { postgresControl } from '../../../src/agent/ha/postgres-control.js';
import { leaseDeadlineMonoMs } from '../../../src/dcs/lease.js';
import { stop } from '../../../src/postgres/index.js';
import { cleanupPostgres, startPrimary, type TestServer } from '../../helpers/postgres.js';
import { sleep, waitUntil } from '../../helpers/wait.js';

const stoppers: Array<() => Promise<void>> = [];
// The fence's files live in a directory private to us (prepareFenceDir refuses the PostgreSQL user's).
const fenceDir = mkdtempSync(path.join(os.tmpdir(), 'hactl-stand-down-'));
after(async () => {
  for (const s of stoppers) await s().catch(() => {});
  await cleanupPostgres();
  rmSync(fenceDir, { recursive: true, force: true });
});

/** The fence runs from TypeScript through tsx in tests: on a loaded host (load 30 seen) its start can take seconds. */
const READY_MS = 30_000;

function postmasterOf(server: TestServer): number {
  return Number(readFileSync(path.join(server.options.data_dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

function settingsFor(server: TestServer, name: string) {
  const base = path.join(fenceDir, `${path.basename(server.base)}-${name}`);
  return { mode: 'on' as const, safetyMarginMs: 0, recordFile: `${base}.fenced.json`, logFile: `${base}.fence.log`, pidFile: `${base}.fence.pid`, trippedWatchMs: 1000 };
}

describe('fence: holder clock and positive stand-down', { timeout: 180_000 }, () => {
  it('a holder clock that jumps past the deadline (a suspend) kills within the recheck bound, although the monotonic timer had a minute left', async () => {
    const server = await startPrimary();
    const pm = postmasterOf(server);
    const jumpFile = path.join(server.base, 'clock-jump-ms');
    writeFileSync(jumpFile, '0');
    const client = new FenceClient({ settings: settingsFor(server, 'jump'), logger: { info() {}, warn() {}, error() {} }, forwardLine: () => {}, testClockJumpFile: jumpFile, readyTimeoutMs: READY_MS });
    stoppers.push(() => client.stop());
    await client.start();
    assert.equal((await client.arm(holderNowMs() + 60_000, server.options.data_dir, 'test'))?.armed, true);
    await sleep(2 * HOLDER_RECHECK_MS);
    assert.ok(alive(pm), 'alive a minute before the deadline');
    // "Resume" 61 s later: the holder clock (CLOCK_BOOTTIME) counted the sleep, CLOCK_MONOTONIC did not.
    writeFileSync(jumpFile, '61000');
    const jumpedAt = performance.now();
    await waitUntil(() => !alive(pm), { timeoutMs: 10_000, intervalMs: 5, what: `the postmaster ${pm} to be killed after the clock jump` });
    const afterMs = performance.now() - jumpedAt;
    // HOLDER_RECHECK_MS plus scheduling on a loaded host; the timer alone would have waited ~60 s.
    assert.ok(afterMs < HOLDER_RECHECK_MS + 2000, `killed ${afterMs.toFixed(0)} ms after the jump`);
    const record = await waitUntil(() => { try { return JSON.parse(readFileSync(settingsFor(server, 'jump').recordFile, 'utf8')) as { lateByMs: number }; } catch { return null; } }, { timeoutMs: 3000, what: 'the fence record' });
    assert.ok(record.lateByMs >= 0, `late by ${record.lateByMs} ms on the holder clock`);
  });

  it('an unreadable pg_control reads as "stopped" to the agent, but the fence keeps its deadline while PostgreSQL runs; it stands down once PostgreSQL is really stopped', async () => {
    const server = await startPrimary();
    const lines: string[] = [];
    const logger = { info: (m: string) => lines.push(`INFO ${m}`), warn: (m: string) => lines.push(`WARN ${m}`), error: (m: string) => lines.push(`ERROR ${m}`) };
    const ctl = new FenceController({ settings: settingsFor(server, 'ctl'), logger, dataDir: () => server.options.data_dir, client: { forwardLine: () => {}, readyTimeoutMs: READY_MS } });
    stoppers.push(() => ctl.stop());
    await ctl.start();
    await ctl.leaseConfirmed({ leaseDeadlineMonoMs: leaseDeadlineMonoMs(holderNowMs(), 60_000), paused: false });
    assert.equal(ctl.status().armed, true, lines.join('\n'));
    assert.equal(ctl.status().running, true, lines.join('\n'));

    const control = path.join(server.options.data_dir, 'global', 'pg_control');
    chmodSync(control, 0o000);
    try {
      // The observation the old code released on: pg_controldata fails, the server is "stopped".
      const seen = await observeLocal(postgresControl(() => server.ctx));
      if (seen.state.dataDir === 'invalid') assert.equal(seen.state.role, 'stopped');
      else assert.equal(seen.state.role, 'primary', 'root reads pg_control anyway: the agent sees a primary (still must not disarm)');
      const processes = observeDataDir(server.options.data_dir);
      assert.equal(nothingRuns(processes), false, describeRunning(processes));
      assert.ok(processes.postmasterPid === postmasterOf(server), describeRunning(processes));

      assert.equal(await ctl.release('leader key lost', 'stopped'), false, 'refused: the postmaster and its processes run');
      assert.equal(ctl.status().armed, true, 'the deadline still holds');
      assert.ok(lines.some((l) => /ERROR fence: still armed: not disarmed \(leader key lost\): postmaster\.pid names live process \d+; \d+ processes with cwd = the data directory/.test(l)), lines.join('\n'));
      assert.match(readFileSync(settingsFor(server, 'ctl').logFile, 'utf8'), /WARNING: fence\[\d+\]: not disarmed \(leader key lost\)/);
    } finally {
      chmodSync(control, 0o600);
    }

    await stop(server.ctx, { mode: 'immediate' });
    const gone = observeDataDir(server.options.data_dir);
    assert.ok(nothingRuns(gone), describeRunning(gone) + ' ' + gone.pids.map((p) => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8') + ' ' + readFileSync(`/proc/${p}/stat`, 'utf8'); } catch { return 'gone'; } }).join(' | '));
    assert.equal(await ctl.release('PostgreSQL stopped', 'stopped'), true);
    assert.equal(ctl.status().armed, false);
  });

  it('a replica the agent saw answer in recovery disarms at once (no look needed)', async () => {
    const server = await startPrimary();
    const ctl = new FenceController({ settings: settingsFor(server, 'replica'), logger: { info() {}, warn() {}, error() {} }, dataDir: () => server.options.data_dir, client: { forwardLine: () => {}, readyTimeoutMs: READY_MS } });
    stoppers.push(() => ctl.stop());
    await ctl.start();
    await ctl.leaseConfirmed({ leaseDeadlineMonoMs: leaseDeadlineMonoMs(holderNowMs(), 60_000), paused: false });
    assert.equal(ctl.status().armed, true);
    assert.equal(await ctl.release('leader key lost', 'replica'), true);
    assert.equal(ctl.status().armed, false);
  });
});

// The agent's side of the fence (src/agent/fence/controller.ts): a fence process that cannot be
// (re)started means "not live", which the policy turns into a demotion; pause disarms, and the
// record of a kill is kept until PostgreSQL runs again.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { leaseDeadlineMonoMs } from '../../../src/dcs/lease.js';
import { FenceController } from '../../../src/agent/fence/controller.js';
import type { FenceSettings } from '../../../src/agent/fence/settings.js';
import type { LocalObservation } from '../../../src/agent/ha/inputs.js';
import { replica } from '../ha/fixtures.js';
import { holderNowMs } from '../../../src/agent/fence/holder-clock.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'hactl-fence-ctl-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function settings(name: string): FenceSettings {
  const base = path.join(dir, name);
  return { mode: 'on', safetyMarginMs: 1000, recordFile: `${base}.fenced.json`, logFile: `${base}.fence.log`, pidFile: `${base}.fence.pid`, trippedWatchMs: 0 };
}

const lines: string[] = [];
const logger = { info: (m: string) => lines.push(`INFO ${m}`), warn: (m: string) => lines.push(`WARN ${m}`), error: (m: string) => lines.push(`ERROR ${m}`) };
const observed = (startedAt: Date | null): LocalObservation => ({
  state: replica(),
  server: startedAt ? ({ postmasterStartedAt: startedAt } as LocalObservation['server']) : null,
  pendingRestartSettings: [],
});

describe('fence controller', () => {
  it('reports the fence as not live when the process cannot be started (the policy then demotes)', async () => {
    const ctl = new FenceController({
      settings: settings('broken'),
      logger,
      dataDir: () => path.join(dir, 'broken'),
      client: { entry: { command: process.execPath, args: ['-e', 'process.exit(3)'] }, readyTimeoutMs: 2000 },
    });
    await ctl.start();
    assert.ok(lines.some((l) => /ERROR fence: could not start the fence process/.test(l)));
    const input = await ctl.beforeDecide(false, observed(null));
    assert.deepEqual(input, { mode: 'on', live: false, wasFenced: false });
    assert.equal(ctl.status().running, false);
  });

  it('mode off: never live, never fenced, and says so at start', async () => {
    const ctl = new FenceController({ settings: { ...settings('off'), mode: 'off' }, logger, dataDir: () => dir });
    await ctl.start();
    assert.ok(lines.some((l) => /fence: mode off/.test(l)));
    assert.deepEqual(await ctl.beforeDecide(false, observed(null)), { mode: 'off', live: false, wasFenced: false });
  });

  it('arms after a confirmed renewal, disarms in pause (logged), and keeps a kill record until PostgreSQL runs again', async () => {
    const s = settings('live');
    writeFileSync(s.recordFile, JSON.stringify({ fencedAt: '2030-01-01T00:00:00.000Z', reason: 'test', lateByMs: 1, postmasterPid: 1 }));
    const ctl = new FenceController({ settings: s, logger, dataDir: () => path.join(dir, 'live') });
    await ctl.start();
    try {
      assert.ok(lines.some((l) => /PostgreSQL was fenced at 2030-01-01/.test(l)));
      assert.equal((await ctl.beforeDecide(false, observed(null))).wasFenced, true);
      await ctl.leaseConfirmed({ leaseDeadlineMonoMs: leaseDeadlineMonoMs(holderNowMs(), 30_000), paused: false });
      const armed = ctl.status();
      assert.equal(armed.armed, true);
      assert.ok(armed.deadline_remaining_ms! > 27_000 && armed.deadline_remaining_ms! <= 28_700, JSON.stringify(armed));
      await ctl.beforeDecide(true, observed(null));
      assert.equal(ctl.status().armed, false);
      assert.equal(ctl.status().disabled_reason, 'paused');
      assert.ok(lines.some((l) => /disabled while the cluster is paused/.test(l)));
      await ctl.leaseConfirmed({ leaseDeadlineMonoMs: leaseDeadlineMonoMs(holderNowMs(), 30_000), paused: true });
      assert.equal(ctl.status().armed, false, 'no arming in pause');
      // PostgreSQL started before the kill: the record stays; started after it: cleared.
      assert.equal((await ctl.beforeDecide(false, observed(new Date('2029-12-31T00:00:00Z')))).wasFenced, true);
      assert.equal((await ctl.beforeDecide(false, observed(new Date('2030-01-01T00:00:05Z')))).wasFenced, false);
    } finally {
      await ctl.stop();
    }
  });
});

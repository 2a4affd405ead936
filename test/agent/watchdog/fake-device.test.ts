import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeWatchdogReader, Watchdog, type FakeWatchdogReport } from '../../../src/agent/watchdog/index.js';
import { ProcessRegistry } from '../../helpers/process.js';
import { LIVENESS_MS, sleep, waitUntil } from '../../helpers/wait.js';
import { captureLog, fifoIn, scratchDir, settings, StepClock } from './fixtures.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const fakeDeviceScript = path.join(repoRoot, 'src/agent/watchdog/fake-device.ts');
const feederScript = path.join(repoRoot, 'test/agent/watchdog/feeder.ts');

describe('fake watchdog device', () => {
  it('detects a paused feeder: a gap longer than the timeout would have reset the host', async () => {
    const fifo = fifoIn(scratchDir());
    const clock = new StepClock();
    const reader = new FakeWatchdogReader({ path: fifo, pollMs: 3_600_000, nowMs: clock.nowMs });
    const watchdog = new Watchdog(settings({ device: fifo, driver: 'testing', ttlSeconds: 10, safetyMarginSeconds: 3, loopWaitSeconds: 2 }), {
      clock,
      logger: captureLog(),
    });
    await watchdog.activate();
    reader.poll();
    const feed = (loops: number) => {
      for (let i = 0; i < loops; i++) {
        clock.advance(2_000);
        watchdog.keepalive();
        reader.poll();
      }
    };
    feed(3);
    assert.equal(reader.analyze().wouldHaveFired, false);
    const pausedAt = clock.now;
    clock.advance(7_500); // the agent is frozen longer than the 7 s timeout
    assert.equal(reader.analyze().wouldHaveFired, true, 'seen while the feeder is still paused');
    watchdog.keepalive();
    reader.poll();
    feed(2);
    watchdog.disable();
    reader.stop();
    const a = reader.analyze();
    assert.equal(a.wouldHaveFired, true);
    assert.deepEqual(a.gaps, [{ fromMs: pausedAt, toMs: pausedAt + 7_500, gapMs: 7_500, timeoutSeconds: 7, firesAtMs: pausedAt + 7_000, ongoing: false }]);
    assert.equal(a.magicCloses, 1);
  });

  describe('as a separate process', () => {
    const procs = new ProcessRegistry();
    // Only when something is left: killAll's bounded wait would otherwise hold the run open.
    after(async () => {
      if (procs.running.length > 0) await procs.killAll();
    });

    it('reports that a SIGSTOPped feeder process would have been reset, and the magic close after it resumes', async () => {
      const dir = scratchDir();
      const fifo = path.join(dir, 'watchdog.fifo');
      const out = path.join(dir, 'report.json');
      const report = (): FakeWatchdogReport => JSON.parse(fs.readFileSync(out, 'utf8')) as FakeWatchdogReport;
      const device = procs.spawn('fake-device', process.execPath, ['--import', 'tsx', fakeDeviceScript, '--fifo', fifo, '--out', out, '--mkfifo', '--poll-ms', '10', '--report-ms', '100'], {
        cwd: repoRoot,
      });
      await waitUntil(() => device.output().includes('"ready":true') && fs.existsSync(out), { what: 'the fake device to listen', timeoutMs: LIVENESS_MS });

      // timeout = ttl 3 - safety_margin 2 = 1 s, fed every 200 ms.
      const feeder = procs.spawn('feeder', process.execPath, ['--import', 'tsx', feederScript, '--fifo', fifo, '--ttl', '3', '--margin', '2', '--loop-ms', '200'], { cwd: repoRoot });
      await waitUntil(() => report().analysis.keepalives >= 3, { what: 'keepalives from the feeder', timeoutMs: LIVENESS_MS });
      assert.equal(report().analysis.timeoutSeconds, 1);
      assert.equal(report().analysis.wouldHaveFired, false, feeder.output());

      feeder.signal('SIGSTOP');
      await sleep(1_600);
      const during = await waitUntil(() => {
        const r = report();
        return r.analysis.wouldHaveFired ? r : null;
      }, { what: 'the ongoing gap to be reported', timeoutMs: 2_000 });
      assert.equal(during.analysis.gaps[0]?.ongoing, true);

      feeder.signal('SIGCONT');
      const before = during.analysis.keepalives;
      await waitUntil(() => report().analysis.keepalives > before + 2, { what: 'feeding to resume' });
      feeder.signal('SIGTERM');
      assert.equal(await feeder.exited, 0, feeder.output());
      await waitUntil(() => report().analysis.magicCloses === 1, { what: 'the magic close' });

      device.signal('SIGTERM');
      assert.equal(await device.exited, 0, device.output());
      const final = report().analysis;
      assert.equal(final.wouldHaveFired, true);
      // One gap from the stop (a heavily loaded machine could add another; the stop's is the longest).
      assert.ok(final.maxGapMs >= 1_500, `longest gap ${final.maxGapMs} ms`);
      assert.ok(final.gaps.every((g) => !g.ongoing), JSON.stringify(final.gaps));
      assert.equal(final.armed, false);
      assert.equal(final.opens, 1);
      assert.equal(final.uncleanCloses, 0);
    });
  });
});

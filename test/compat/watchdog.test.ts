// Patroni's acceptance feature `watchdog` (features/watchdog.feature of patroni/patroni v3.0.2) on one
// hactl member whose watchdog is the emulated device (src/agent/watchdog/fake-device.ts reading the
// FIFO the `testing` driver writes, as Patroni's harness emulates /dev/watchdog). Its scenarios: the
// device is opened and pinged with timeout ttl − safety_margin, follows a ttl change, is closed while
// paused and fed again after resume, fires when the agent hangs, and is closed at shutdown. The
// fixture's ttl (6 s) and safety_margin 2 stand for the feature's 20 and 5.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FakeWatchdogReport } from '../../src/agent/watchdog/fake-device.js';
import { BOOTSTRAPPED_WITHIN_MS, FAST_TIMING, REPO_ROOT, TestCluster } from '../helpers/cluster.js';
import { tempDirForPostgres } from '../helpers/postgres.js';
import type { ManagedProcess } from '../helpers/process.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';
import { apiFlags, hactl } from '../e2e/fault-fixture.js';
import { shutDown } from './steps.js';

const FAKE_DEVICE = path.join(REPO_ROOT, 'dist', 'agent', 'watchdog', 'fake-device.js');
const SAFETY_MARGIN = 2;
const TTL = 6;

describe("Patroni's watchdog feature", { timeout: 600_000 }, () => {
  let cluster: TestCluster;
  let device: ManagedProcess;
  let fifo = '';
  let reportFile = '';

  const report = async (): Promise<FakeWatchdogReport['analysis']> => (JSON.parse(await fs.readFile(reportFile, 'utf8')) as FakeWatchdogReport).analysis;
  /** Waits until the device's analysis satisfies `ok` (the fake device rewrites its report every few ms). */
  const deviceShows = (what: string, ok: (a: FakeWatchdogReport['analysis']) => boolean, timeoutMs = LIVENESS_MS) =>
    waitUntil(async () => {
      const a = await report().catch(() => null);
      return a && ok(a) ? a : null;
    }, { timeoutMs, intervalMs: 100, what: `the emulated watchdog to show ${what}` });
  const pingedAgain = async () => {
    const before = (await report()).keepalives;
    return deviceShows('three more keepalives', (a) => a.armed && a.keepalives >= before + 3);
  };
  const cli = (args: string[]) => hactl([...args, ...apiFlags(cluster.nodes)]);

  before(async () => {
    const base = await tempDirForPostgres('hactl-compat-wd-');
    fifo = path.join(base, 'watchdog');
    reportFile = path.join(base, 'watchdog.json');
    cluster = await TestCluster.create({ size: 1, timing: { ...FAST_TIMING, ttl: TTL }, watchdog: () => ({ device: fifo, driver: 'testing', mode: 'automatic', safetyMargin: SAFETY_MARGIN }) });
    // The reader must hold the FIFO before the agent opens it (fake-device.ts).
    device = cluster.registry.spawn('watchdog', process.execPath, [FAKE_DEVICE, '--fifo', fifo, '--out', reportFile, '--mkfifo', '--poll-ms', '10'], { cwd: REPO_ROOT });
    await waitUntil(() => device.output().includes('"ready":true'), { timeoutMs: LIVENESS_MS, what: 'the emulated watchdog device to be ready' });
    cluster.startAll();
  });

  after(async () => {
    await cluster?.destroy();
  });

  it('is opened and pinged by the leader, with timeout ttl − safety_margin', async () => {
    await cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS);
    const a = await pingedAgain();
    assert.equal(a.timeoutSeconds, TTL - SAFETY_MARGIN);
    assert.equal(a.wouldHaveFired, false, JSON.stringify(a.gaps));
  });

  it('is reconfigured after the global ttl changed', async () => {
    const edit = await cli(['edit-config', cluster.scope, '-s', `ttl=${TTL + 4}`, '--force']);
    assert.equal(edit.status, 0, edit.stderr);
    assert.match(edit.stdout, new RegExp(`^\\+ttl: ${TTL + 4}$`, 'm'));
    await deviceShows(`timeout ${TTL + 4 - SAFETY_MARGIN} s`, (a) => a.armed && a.timeoutSeconds === TTL + 4 - SAFETY_MARGIN);
  });

  // Patroni disables the watchdog at the start of every paused cycle and activates it again when a
  // leader runs unpaused (enforce_primary_role); hactl's leader renews its key in pause and feeds the
  // watchdog with it, so the device stays armed. The bound is the feature's sleep (2 s) with slack.
  it('is closed during pause', async () => {
    const closesBefore = (await report()).magicCloses;
    const pause = await cli(['pause', cluster.scope, '--wait']);
    assert.equal(pause.status, 0, pause.stderr);
    await deviceShows('a magic close', (a) => !a.armed && a.magicCloses > closesBefore, 10_000);
  });

  it('is opened and pinged again after resume', async () => {
    const resume = await cli(['resume', cluster.scope, '--wait']);
    assert.equal(resume.status, 0, resume.stderr);
    await pingedAgain();
  });

  it('is triggered when the agent stops responding', async () => {
    const agent = cluster.agents.get(cluster.nodes[0]!.name)!;
    const timeoutSeconds = (await report()).timeoutSeconds;
    agent.signal('SIGSTOP');
    try {
      await deviceShows('that it would have fired', (a) => a.wouldHaveFired);
    } finally {
      agent.signal('SIGCONT');
    }
    const a = await report();
    assert.ok(a.gaps.some((g) => g.gapMs > timeoutSeconds * 1000), JSON.stringify(a.gaps));
    await pingedAgain();
  });

  it('is closed when the agent shuts down', async () => {
    await shutDown(cluster, cluster.nodes[0]!.name);
    const a = await deviceShows('a magic close and nothing armed', (r) => !r.armed && r.magicCloses > 0);
    assert.equal(a.uncleanCloses, 0);
  });
});

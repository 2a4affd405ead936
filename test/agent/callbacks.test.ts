// The callback runner with real scripts (src/agent/callbacks.ts): Patroni's arguments, one callback at
// a time in call order, a still-running callback killed with everything it started (its process group),
// on_reload in its own slot, and pre_promote / before_stop awaited with their exit code.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CallbackRunner } from '../../src/agent/callbacks.js';
import { createLineLogger } from '../../src/logger.js';
import type { PgContext } from '../../src/postgres/index.js';
import { cleanupPostgres, pgUser, tempDirForPostgres, testContext, testOptions } from '../helpers/postgres.js';
import { pidGone } from '../helpers/process.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';

describe('CallbackRunner', { timeout: 120_000 }, () => {
  let base: string;
  let ctx: PgContext;
  const logged: string[] = [];
  const logger = createLineLogger({ style: 'patroni', write: (line) => logged.push(line) });
  const logFile = () => path.join(base, 'cb.log');
  const entries = async () => (await fs.readFile(logFile(), 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');

  before(async () => {
    base = await tempDirForPostgres('hactl-cb-');
    // `slow` actions start a grandchild and wait for it; each line carries the pids to check the kill.
    const script = path.join(base, 'cb.sh');
    await fs.writeFile(
      script,
      `#!/bin/sh
if [ "$1" = on_start ] || [ "$1" = on_reload ]; then
  sleep 300 &
  echo "begin $1 $2 $3 $(id -un) $$ $!" >> '${base}/cb.log'
  wait
fi
echo "end $1 $2 $3" >> '${base}/cb.log'
`,
      { mode: 0o755 },
    );
    const cmd = `/bin/sh ${script}`;
    const options = await testOptions(base, {
      scope: 'batman',
      callbacks: { on_start: cmd, on_stop: cmd, on_role_change: cmd, on_reload: cmd },
      pre_promote: `/bin/sh -c 'echo pre >> ${base}/cb.log; exit 3'`,
    });
    ctx = await testContext(options);
  });

  after(async () => {
    await cleanupPostgres();
  });

  it('passes <action> <role> <scope>, runs as the PostgreSQL OS user, kills a still-running callback with its children, keeps call order', async () => {
    const runner = new CallbackRunner({ ctx: () => ctx, logger });
    runner.call('on_start', 'replica');
    const begin = await waitUntil(async () => (await entries()).find((l) => l.startsWith('begin on_start')), { timeoutMs: LIVENESS_MS, what: 'on_start to begin' });
    const [, , role, scope, user, shellPid, sleepPid] = begin.split(' ');
    assert.deepEqual([role, scope, user], ['replica', 'batman', (await pgUser()).name]);
    runner.call('on_stop', 'replica');
    runner.call('on_role_change', 'primary');
    await runner.idle();
    for (const pid of [shellPid, sleepPid]) await waitUntil(() => pidGone(Number(pid)), { timeoutMs: LIVENESS_MS, what: `pid ${pid} of the killed on_start to be gone` });
    const all = await entries();
    assert.ok(!all.includes('end on_start replica batman'), `on_start was killed before it ended: ${all.join(' | ')}`);
    // Patroni keeps only the latest pending call: on_stop, queued behind the killed on_start, is replaced.
    assert.equal(all.at(-1), 'end on_role_change primary batman', all.join(' | '));
    assert.ok(logged.some((l) => /killing callback on_start replica, still running when on_stop replica was called/.test(l)), logged.join('\n'));
  });

  it('runs a callback that is not overtaken to its end, and on_reload beside the others', async () => {
    await fs.rm(logFile(), { force: true });
    const runner = new CallbackRunner({ ctx: () => ctx, logger });
    runner.call('on_reload', 'primary');
    await waitUntil(async () => (await entries()).some((l) => l.startsWith('begin on_reload')), { timeoutMs: LIVENESS_MS, what: 'on_reload to begin' });
    runner.call('on_stop', 'primary');
    await waitUntil(async () => (await entries()).includes('end on_stop primary batman'), { timeoutMs: LIVENESS_MS, what: 'on_stop to end while on_reload runs' });
    const reload = (await entries()).find((l) => l.startsWith('begin on_reload'))!;
    assert.ok(!pidGone(Number(reload.split(' ')[6])), 'on_reload still runs: on_stop does not kill it');
    runner.call('on_reload', 'primary');
    await waitUntil(async () => (await entries()).filter((l) => l.startsWith('begin on_reload')).length === 2, { timeoutMs: LIVENESS_MS, what: 'the second on_reload' });
    await waitUntil(() => pidGone(Number(reload.split(' ')[6])), { timeoutMs: LIVENESS_MS, what: 'a newer on_reload to kill the older one (its sleep)' });
    // Leave nothing behind: the last on_reload ends once its sleep is gone.
    const last = (await entries()).filter((l) => l.startsWith('begin on_reload')).at(-1)!;
    process.kill(Number(last.split(' ')[6]), 'SIGKILL');
    await runner.idle();
  });

  it('awaits pre_promote and returns its exit code; nothing configured is not a failure', async () => {
    const runner = new CallbackRunner({ ctx: () => ctx, logger });
    assert.deepEqual(await runner.script('pre_promote'), { configured: true, code: 3 });
    assert.ok((await entries()).includes('pre'));
    assert.ok(logged.some((l) => /pre_promote script `.*` exited with 3/.test(l)), logged.join('\n'));
    assert.deepEqual(await runner.script('before_stop'), { configured: false, code: null });
  });
});

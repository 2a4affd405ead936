// The scheduled restart a member keeps in its member key (src/agent/scheduled-restart.ts): the
// record published, reading it back at start (stale ones dropped), and Patroni's rule that a
// restart already done since the request cancels it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ScheduledRestartSlot } from '../../src/agent/scheduled-restart.js';
import type { RestartRequest } from '../../src/agent/api/index.js';
import { waitUntil } from '../helpers/wait.js';

function harness(startedAt: string | null = '2026-12-01T00:00:00.000Z') {
  const lines: string[] = [];
  const restarts: RestartRequest[] = [];
  let changes = 0;
  const state = { startedAt };
  const slot = new ScheduledRestartSlot({
    logger: { info: (l) => void lines.push(`INFO ${l}`), warn: (l) => void lines.push(`WARN ${l}`) },
    postmasterStartTime: () => state.startedAt,
    restartNow: async (req) => {
      restarts.push(req);
      return 'restarted successfully';
    },
    changed: () => void changes++,
  });
  return { slot, lines, restarts, state, changes: () => changes };
}

const request = (ms: number, over: Partial<RestartRequest> = {}): RestartRequest => ({
  restartPending: null, role: null, postgresVersion: null, postgresVersionNum: null, timeoutSeconds: null,
  schedule: { text: new Date(ms).toISOString(), ms }, ...over,
});

describe('scheduled restart in the member key', () => {
  it('publishes schedule, postmaster start time and the filters; one at a time; cancel clears it', () => {
    const h = harness();
    const at = Date.now() + 3_600_000;
    assert.equal(h.slot.schedule(request(at, { role: 'replica', postgresVersion: '16.4', postgresVersionNum: 160004, restartPending: true, timeoutSeconds: 60 })), true);
    assert.deepEqual(h.slot.record, {
      schedule: new Date(at).toISOString(), postmaster_start_time: '2026-12-01T00:00:00.000Z', restart_pending: true, role: 'replica', postgres_version: '16.4', timeout: 60,
    });
    assert.equal(h.changes(), 1, 'the member key is touched at once');
    assert.equal(h.slot.schedule(request(at)), false, 'a second one is refused (409)');
    assert.equal(h.slot.cancel(), true);
    assert.equal(h.slot.record, null);
    assert.equal(h.slot.cancel(), false);
  });

  it('reads its record back at start with the same filters, and runs it when due', async () => {
    const first = harness();
    first.slot.schedule(request(Date.now() + 300, { role: 'replica', postgresVersion: '16.4', postgresVersionNum: 160004 }));
    const stored = JSON.parse(JSON.stringify(first.slot.record)) as unknown;
    first.slot.dispose();
    const again = harness();
    assert.match(again.slot.restore(stored, 10) ?? '', /^restart scheduled at .* restored from the member key$/);
    assert.deepEqual(again.slot.record, stored);
    await waitUntil(() => again.restarts.length === 1, { timeoutMs: 10_000, what: 'the restored restart to run' });
    assert.equal(again.restarts[0]!.role, 'replica');
    assert.equal(again.restarts[0]!.postgresVersionNum, 160004);
    assert.equal(again.restarts[0]!.schedule, null);
    assert.equal(again.slot.record, null, 'done: no longer in the member key');
  });

  it('drops a schedule older than 1.5 x loop_wait, and a record it cannot read, saying why', () => {
    const h = harness();
    const stale = new Date(Date.now() - 20_000).toISOString();
    assert.equal(h.slot.restore({ schedule: stale }, 10), `Found a stale restart value, cleaning up: ${stale}`);
    assert.equal(h.slot.record, null);
    assert.match(h.slot.restore({ schedule: 'soon' }, 10) ?? '', /^dropped the scheduled restart found in the member key: schedule "soon": Unable to parse/);
    assert.equal(h.slot.restore(undefined, 10), null);
  });

  it('is cancelled, not run, when PostgreSQL was restarted since the request (Patroni)', async () => {
    const h = harness();
    h.slot.schedule(request(Date.now() + 200));
    h.state.startedAt = '2026-12-01T01:00:00.000Z';
    await waitUntil(() => h.lines.some((l) => l.includes('Cancelling scheduled restart')), { timeoutMs: 10_000, what: 'the cancel line' });
    assert.deepEqual(h.restarts, []);
    assert.equal(h.lines.at(-1), 'INFO Cancelling scheduled restart: postgres restart has already happened at 2026-12-01T01:00:00.000Z');
    assert.equal(h.slot.record, null);
  });
});

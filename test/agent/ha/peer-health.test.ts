// The leader race's view of its peers (ha/inputs.ts collectMemberHealth): every peer's `/patroni`
// through the protocol decoder; a peer that does not answer, or answers something that is no
// member status, is unreachable and ignored, as in Patroni.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { collectMemberHealth } from '../../../src/agent/ha/inputs.js';
import type { Member } from '../../../src/dcs/index.js';
import { member } from './fixtures.js';

describe('peer health for the leader race', () => {
  const peers: Member[] = ['me', 'old', 'rep', 'down', 'junk', 'noapi'].map((name) => ({ ...member(name), apiUrl: name === 'noapi' ? null : `http://${name}:8008/patroni` }));
  const answers: Record<string, unknown> = {
    'http://old:8008/patroni': { state: 'running', role: 'master', timeline: 3, xlog: { location: 5000 }, tags: { failover_priority: 3 } },
    'http://rep:8008/patroni': { state: 'running', role: 'replica', xlog: { received_location: '7000', replayed_location: 6000 }, tags: { nofailover: true }, watchdog_failed: true },
    'http://junk:8008/patroni': { hello: 'world' },
    'http://fenceless:8008/patroni': { state: 'running', role: 'replica', xlog: { received_location: 1, replayed_location: 1 }, fence: { mode: 'on', running: false } },
    'http://paused:8008/patroni': { state: 'running', role: 'replica', fence: { mode: 'on', running: false, disabled_reason: 'paused' } },
  };
  const fetchStatus = async (url: string): Promise<unknown> => {
    if (!(url in answers)) throw new Error('connection refused');
    return answers[url];
  };

  it('asks every other member with an API URL and reads what the race needs', async () => {
    const health = await collectMemberHealth(peers, 'me', { fetchStatus, timeoutMs: 100 });
    const byName = new Map(health.map((h) => [h.name, h]));
    assert.deepEqual([...byName.keys()].sort(), ['down', 'junk', 'old', 'rep'], 'not itself, not a member without api_url');
    assert.deepEqual(byName.get('old'), {
      name: 'old',
      reachable: true,
      role: 'primary',
      state: 'running',
      walLsn: 5000n,
      timeline: 3,
      nofailover: false,
      failoverPriority: 3,
      watchdogFailed: false,
      fenceVeto: null,
    });
    const rep = byName.get('rep')!;
    assert.equal(rep.walLsn, 7000n, 'a replica counts the furthest of received and replayed');
    assert.equal(rep.nofailover, true);
    assert.equal(rep.failoverPriority, 0);
    assert.equal(rep.watchdogFailed, true);
    assert.equal(byName.get('down')!.reachable, false);
    assert.equal(byName.get('junk')!.reachable, false, 'a body that is no member status counts as no answer');
  });

  it('reads a fence that is on but not running as a veto (the member would refuse the key), a paused one as none', async () => {
    const more = ['fenceless', 'paused'].map((name) => ({ ...member(name), apiUrl: `http://${name}:8008/patroni` }));
    const byName = new Map((await collectMemberHealth(more, 'me', { fetchStatus, timeoutMs: 100 })).map((h) => [h.name, h]));
    assert.match(byName.get('fenceless')!.fenceVeto ?? '', /fence process is not running/);
    assert.equal(byName.get('paused')!.fenceVeto, null);
  });
});

// Real processes: a group grows 1 → 2 → 3 by starting members with the partner_addrs of the
// running group (each asks to be added, catches up as a learner, then votes) and shrinks back;
// a removed member that restarts does not rejoin by itself. Needs `npm run build` first.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RaftCluster } from './cluster.js';
import { LIVENESS_MS, SUITE_MS, waitUntil } from '../../helpers/wait.js';

describe('growing and shrinking a Raft group of real processes', { timeout: SUITE_MS }, () => {
  let cluster: RaftCluster;
  let a: string, b: string, c: string;

  before(async () => {
    cluster = await RaftCluster.prepare({ size: 3, password: 'growth secret' });
    [a, b, c] = cluster.addrs as [string, string, string];
  });
  after(async () => {
    await cluster?.destroy();
  });

  async function voters(at: string): Promise<string[]> {
    const s = await cluster.status(at, 2_000);
    return s?.voters ? String(s.voters).split(',').filter(Boolean).sort() : [];
  }

  async function waitVoters(at: string, want: string[], what: string): Promise<void> {
    await waitUntil(async () => {
      const v = await voters(at);
      return v.join() === [...want].sort().join() ? v : null;
    }, { what: `${what} (voters seen by ${at})`, timeoutMs: LIVENESS_MS, intervalMs: 100 });
  }

  it('starts a one-member group that commits on its own', async () => {
    cluster.startNode(a, [a]);
    await cluster.waitListening(a);
    await cluster.waitForLeader({ among: [a] });
    assert.equal((await cluster.write(a, { op: 'set', key: '/g/1', value: 'one' })).ok, true);
  });

  it('grows to two: the new member asks to be added, catches up and votes', async () => {
    cluster.startNode(b, [a, b]);
    await cluster.waitListening(b);
    await waitVoters(a, [a, b], 'b to become a voter');
    await waitUntil(async () => ((await cluster.status(b))?.keys === 1 ? true : null), { what: 'b to hold the data written before it joined', timeoutMs: LIVENESS_MS });
    assert.equal((await cluster.write(b, { op: 'set', key: '/g/2', value: 'two' })).ok, true);
    assert.match(cluster.proc(b).output(), /new member: asking to be added/);
  });

  it('grows to three, and keeps committing with one of three down', async () => {
    cluster.startNode(c, [a, b, c]);
    await cluster.waitListening(c);
    await waitVoters(a, [a, b, c], 'c to become a voter');
    await waitUntil(async () => ((await cluster.status(c))?.keys === 2 ? true : null), { what: 'c to catch up', timeoutMs: LIVENESS_MS });
    await cluster.kill(a);
    const leader = await cluster.waitForLeader({ among: [b, c], timeoutMs: LIVENESS_MS });
    assert.equal((await cluster.write(leader, { op: 'set', key: '/g/3', value: 'three' })).ok, true);
    cluster.startNode(a, [a]); // its log knows the group now; partner_addrs no longer matter
    await cluster.waitListening(a);
    await waitUntil(async () => ((await cluster.status(a))?.keys === 3 ? true : null), { what: 'a to catch up after its restart', timeoutMs: LIVENESS_MS });
  });

  it('shrinks back to one; a removed member restarted with its data does not rejoin', async (t) => {
    t.after(() => {
      if (process.env.HACTL_DEBUG) console.log(cluster.logs());
    });
    const admin = await cluster.admin(b);
    try {
      const leader = await cluster.waitForLeader();
      if (leader === c) await admin.transfer(a, 10_000);
      const removed = await admin.remove(c, 20_000);
      assert.equal(removed.message, `SUCCESS REMOVE ${c}`);
      const termBefore = (await cluster.status(a))?.raft_term;
      await cluster.kill(c, 'SIGTERM');
      // Its log may end before the change that removed it: it restarts believing it is a voter.
      cluster.startNode(c, [a, b, c]);
      await cluster.waitListening(c);
      // Observation window: until it has tried to campaign (it is not fresh, so it never asks to join).
      await waitUntil(async () => {
        const role = (await cluster.status(c))?.role;
        return role === 'pre-candidate' || role === 'candidate' || /was removed and does not rejoin by itself/.test(cluster.proc(c).output()) ? true : null;
      }, { what: 'the restarted removed member to campaign or say it was removed', timeoutMs: LIVENESS_MS });
      assert.deepEqual(await voters(a), [a, b].sort(), 'still two voters after the removed member ran');
      assert.equal((await cluster.status(a))?.raft_term, termBefore, 'the removed member did not disrupt the group (pre-vote)');
      assert.doesNotMatch(cluster.proc(c).output(), /asking to be added/);
      await cluster.kill(c);
      if ((await cluster.waitForLeader()) === b) await admin.transfer(a, 10_000);
    } finally {
      admin.close();
    }
    const admin2 = await cluster.admin(a);
    try {
      assert.equal((await admin2.remove(b, 20_000)).message, `SUCCESS REMOVE ${b}`);
    } finally {
      admin2.close();
    }
    await cluster.kill(b);
    assert.deepEqual(await voters(a), [a]);
    assert.equal((await cluster.write(a, { op: 'set', key: '/g/4', value: 'alone again' })).ok, true);
  });
});

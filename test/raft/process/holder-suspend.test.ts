// A lease holder whose host sleeps (issue 13, "the holder's clock can sleep"), on real processes: a
// one-member Raft store, holder A takes the key, A is frozen (SIGSTOP) for twice the ttl, holder B
// takes the key meanwhile, A runs again. With the product's holder clock (CLOCK_BOOTTIME), A's belief
// ended in real time before B's began: the lock checker finds no overlap. With a clock that stood
// still during the freeze (CLOCK_MONOTONIC during a system suspend), A still believes it owns the key
// after it resumes while B does: the checker must find that overlap, which shows the Jepsen-style
// run's holder-suspend fault (test/raft/process/jepsen.ts) would catch the wrong clock.
// Needs `npm run build` first.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { checkLockHistory } from '../../helpers/lincheck.js';
import { waitUntil, LIVENESS_MS } from '../../helpers/wait.js';
import { RaftCluster } from './cluster.js';
import { LeaseHolder, ownToReal } from './lease-holders.js';

const TTL_MS = 3_000;

describe('a lease holder frozen for longer than the ttl (real processes)', { timeout: 180_000 }, () => {
  let cluster: RaftCluster | undefined;
  after(async () => {
    await cluster?.destroy();
  });

  it('converts a stopped clock\'s deadline to the real time it shows it', () => {
    assert.equal(ownToReal(100, []), 100);
    assert.equal(ownToReal(100, [[150, 200]]), 100);
    assert.equal(ownToReal(160, [[150, 200]]), 210);
    assert.equal(ownToReal(160, [[150, 200], [205, 300]]), 305);
    assert.equal(ownToReal(160, [[150, 200], [250, 300]]), 210);
  });

  for (const clock of ['holder', 'monotonic'] as const) {
    it(`${clock === 'holder' ? 'the holder clock (CLOCK_BOOTTIME): no two owners' : 'a clock that stops while frozen: the checker sees two owners'}`, async () => {
      cluster ??= await RaftCluster.start({ size: 1, password: null });
      const addr = cluster.addrs[0]!;
      await cluster.waitForLeader({ timeoutMs: LIVENESS_MS });
      const key = `/suspend/${clock}`;
      const spec = (id: string) => ({ id, addrs: [addr], key, ttlMs: TTL_MS, seed: 1, clock, frozenFile: path.join(cluster!.baseDir, `${clock}-${id}.frozen`), releaseChance: 0 });
      const a = new LeaseHolder(cluster.registry, spec('A'));
      let b: LeaseHolder | null = null;
      try {
        await waitUntil(() => a.lines().some((l) => l.kind === 'acquire' && l.ok === true), { timeoutMs: LIVENESS_MS, what: `holder A to take ${key}` });
        b = new LeaseHolder(cluster.registry, spec('B'));
        const frozen = a.suspend(2 * TTL_MS);
        await waitUntil(() => b!.lines().some((l) => l.kind === 'acquire' && l.ok === true), { timeoutMs: 2 * TTL_MS + LIVENESS_MS, what: `holder B to take ${key} while A is frozen` });
        await frozen;
        // A runs again: let it act on what it believes (renew or acquire) before it stops.
        await waitUntil(() => a.lines().some((l) => l.sentAt > a.suspended[0]![1] && l.completedAt !== null), { timeoutMs: LIVENESS_MS, what: 'holder A to finish an operation after it resumed' });
      } finally {
        await Promise.all([a.stop(), b?.stop()]);
      }
      const result = checkLockHistory([...a.history(), ...b!.history()]);
      const story = JSON.stringify({ suspended: a.suspended, a: a.history(), b: b!.history() });
      if (clock === 'holder') {
        assert.ok(result.ok, `two owners with the holder clock: ${'message' in result ? result.message : ''}\n${story}`);
        assert.ok(result.claims.some((c) => c.holder === 'A') && result.claims.some((c) => c.holder === 'B'), `both held the key in turn\n${story}`);
      } else {
        assert.ok(!result.ok, `no overlap found although A's clock stood still for ${2 * TTL_MS} ms\n${story}`);
        assert.ok(result.violations.every((v) => new Set([v.first.holder, v.second.holder]).size === 2), story);
      }
    });
  }
});

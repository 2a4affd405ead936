// Issue 17's release rule, as a property of the Raft KV store: a release of the leader key is a
// compare-and-delete on the exact version (and holder) of the write the releaser was armed with, so
// a stale release — from a fence armed before a renewal, from a member's previous incarnation (a
// systemd restart that took the key again under the same name), or from a member whose key expired
// and went to someone else — can never delete a newer leader's key. Versions are Raft indexes, so a
// newer write of the key always has a larger version, whoever wrote it.
//
// The second test shows why the holder alone is not enough: a value-only release by a restarted
// member's old fence deletes the key its new incarnation holds.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KvStore } from '../../../src/raft/kv/store.js';
import type { KvCommand, KvEntry, KvResult } from '../../../src/raft/kv/types.js';
import { Rng } from '../../helpers/prng.js';

const KEY = '/service/prop/leader';
const MEMBERS = ['a', 'b', 'c'] as const;
const TTL_MS = 30_000;

interface Armed {
  holder: string;
  version: number;
}

interface Run {
  /** Releases that deleted a key: what they were armed with and what they deleted. */
  deletions: Array<{ armed: Armed; deleted: KvEntry }>;
  releases: number;
  staleReleases: number;
}

function simulate(seed: number, steps: number, release: (armed: Armed) => KvCommand): Run {
  const rng = new Rng(seed);
  const store = new KvStore();
  let index = 0;
  const apply = (cmd: Parameters<KvStore['apply']>[1]): KvResult => store.apply(++index, cmd, 0);
  /** Every confirmed acquire/renewal, per member: what a fence may have been armed with. */
  const armedBy = new Map<string, Armed[]>(MEMBERS.map((m) => [m, []]));
  const run: Run = { deletions: [], releases: 0, staleReleases: 0 };
  for (let step = 0; step < steps; step++) {
    const me = rng.pick(MEMBERS);
    const current = store.get(KEY);
    const op = rng.int(0, 10);
    if (op < 3) {
      // acquire: create if absent (a restarted member takes the key again under the same name)
      const r = apply({ op: 'set', key: KEY, value: me, ttlMs: TTL_MS, ifVersion: 0 });
      if (r.ok) armedBy.get(me)!.push({ holder: me, version: r.entry!.version });
    } else if (op < 6) {
      // renew: CAS on our own name, as RaftDcs.updateLeader does
      const r = apply({ op: 'set', key: KEY, value: me, ttlMs: TTL_MS, ifValue: me });
      if (r.ok) armedBy.get(me)!.push({ holder: me, version: r.entry!.version });
    } else if (op < 7) {
      // the Raft leader's tick expires the current version
      if (current) apply({ op: 'expire', key: KEY, version: current.version });
    } else {
      // a release by one of this member's fences or agents: the latest arm, or a stale one
      const history = armedBy.get(me)!;
      if (history.length === 0) continue;
      const armed = rng.chance(0.5) ? history.at(-1)! : rng.pick(history);
      run.releases += 1;
      if (current === null || current.version !== armed.version) run.staleReleases += 1;
      const r = apply(release(armed));
      if (r.ok && r.prev) run.deletions.push({ armed, deleted: r.prev });
    }
  }
  return run;
}

const exact = (armed: Armed): KvCommand => ({ op: 'delete', key: KEY, ifVersion: armed.version, ifValue: armed.holder });
const holderOnly = (armed: Armed): KvCommand => ({ op: 'delete', key: KEY, ifValue: armed.holder });

describe('leader-key release: compare-and-delete on the armed version', () => {
  it('never deletes a key other than the exact write it was armed with (1,000 seeds × 300 steps)', () => {
    let releases = 0;
    let stale = 0;
    let deleted = 0;
    for (let seed = 1; seed <= 1000; seed++) {
      const run = simulate(seed, 300, exact);
      releases += run.releases;
      stale += run.staleReleases;
      deleted += run.deletions.length;
      for (const { armed, deleted: entry } of run.deletions) {
        assert.equal(entry.version, armed.version, `seed ${seed}: a release armed with version ${armed.version} deleted version ${entry.version}`);
        assert.equal(entry.value, armed.holder, `seed ${seed}: a release by ${armed.holder} deleted ${entry.value}'s key`);
      }
    }
    // The property is only meaningful if stale releases were tried and fresh ones still work.
    assert.ok(stale > 1000, `only ${stale} stale releases of ${releases}`);
    assert.ok(deleted > 1000, `only ${deleted} releases took effect`);
  });

  it('a holder-only release is not enough: some seed lets an old incarnation delete its successor\'s newer key', () => {
    const found = Array.from({ length: 200 }, (_, i) => simulate(i + 1, 300, holderOnly)).some((run) => run.deletions.some(({ armed, deleted }) => deleted.version > armed.version));
    assert.ok(found, 'expected a value-only release to delete a newer write of the same holder');
  });
});

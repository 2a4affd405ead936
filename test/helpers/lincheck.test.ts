import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkHistory,
  checkLockHistory,
  kvRegisterModel,
  type KvOpInput,
  type KvOpOutput,
  type LockOp,
  type Model,
  type Operation,
} from './lincheck.js';
import { mulberry32 } from './prng.js';

type Op = Operation<KvOpInput, KvOpOutput>;

const op = (clientId: string, call: number, ret: number | null, input: KvOpInput, output: KvOpOutput | null = null): Op => ({
  clientId,
  input,
  call,
  ret,
  output,
});
const get = (key: string): KvOpInput => ({ op: 'get', key });
const set = (key: string, value: string, cond: { ifVersion?: number; ifValue?: string } = {}): KvOpInput => ({ op: 'set', key, value, ...cond });
const del = (key: string, cond: { ifVersion?: number; ifValue?: string } = {}): KvOpInput => ({ op: 'delete', key, ...cond });
const read = (value: string | null, version?: number): KvOpOutput => (value === null ? { ok: true, value: null } : { ok: true, value, version });
const wrote = (version: number): KvOpOutput => ({ ok: true, version });
const ok: KvOpOutput = { ok: true };
const failed = (reason: 'version-mismatch' | 'value-mismatch' | 'not-found'): KvOpOutput => ({ ok: false, reason });

const verdict = (h: Op[]): string => checkHistory(kvRegisterModel, h).result;

describe('lincheck: KV register with versions and CAS', () => {
  it('accepts a sequential history', () => {
    assert.equal(verdict([op('a', 0, 1, set('x', '1'), wrote(1)), op('b', 2, 3, get('x'), read('1', 1)), op('a', 4, 5, del('x'), ok), op('b', 6, 7, get('x'), read(null))]), 'ok');
  });

  it('accepts concurrent writes read in either order while they overlap', () => {
    const h = [op('a', 0, 10, set('x', '1'), wrote(3)), op('b', 0, 10, set('x', '2'), wrote(4)), op('c', 1, 2, get('x'), read('1', 3)), op('c', 3, 4, get('x'), read('2', 4))];
    assert.equal(verdict(h), 'ok');
  });

  it('rejects a stale read after a write completed', () => {
    const h = [op('a', 0, 1, set('x', '1'), wrote(1)), op('a', 2, 3, set('x', '2'), wrote(2)), op('b', 4, 5, get('x'), read('1', 1))];
    const r = checkHistory(kvRegisterModel, h);
    assert.equal(r.result, 'illegal');
    assert.match(r.result === 'illegal' ? r.message : '', /not linearizable/);
  });

  it('rejects a lost write (read of absent after an acknowledged create)', () => {
    assert.equal(verdict([op('a', 0, 1, set('x', '1', { ifVersion: 0 }), wrote(5)), op('b', 2, 3, get('x'), read(null))]), 'illegal');
  });

  it('rejects two successful creates of the same key without a delete between', () => {
    const h = [op('a', 0, 5, set('k', 'a', { ifVersion: 0 }), wrote(1)), op('b', 0, 5, set('k', 'b', { ifVersion: 0 }), wrote(2))];
    assert.equal(verdict(h), 'illegal');
  });

  it('accepts a CAS race with one winner and one version-mismatch', () => {
    const h = [
      op('a', 0, 1, set('k', 'v0'), wrote(1)),
      op('b', 2, 5, set('k', 'b', { ifVersion: 1 }), failed('version-mismatch')),
      op('c', 2, 5, set('k', 'c', { ifVersion: 1 }), wrote(2)),
      op('d', 6, 7, get('k'), read('c', 2)),
    ];
    assert.equal(verdict(h), 'ok');
  });

  it('rejects a CAS that failed although nothing could have changed the version', () => {
    const h = [op('a', 0, 1, set('k', 'v0'), wrote(1)), op('b', 2, 3, set('k', 'b', { ifVersion: 1 }), failed('version-mismatch'))];
    assert.equal(verdict(h), 'illegal');
  });

  it('rejects a read whose version went backwards for the same value', () => {
    const h = [op('a', 0, 1, set('k', 'v'), wrote(7)), op('a', 2, 3, set('k', 'v'), wrote(9)), op('b', 4, 5, get('k'), read('v', 7))];
    assert.equal(verdict(h), 'illegal');
  });

  it('lets a timed-out write take effect, possibly late', () => {
    const h = [op('a', 0, null, set('k', 'late')), op('b', 5, 6, get('k'), read(null)), op('b', 100, 101, get('k'), read('late', 42))];
    assert.equal(verdict(h), 'ok');
  });

  it('lets a timed-out write never take effect', () => {
    assert.equal(verdict([op('a', 0, null, set('k', 'lost')), op('b', 50, 51, get('k'), read(null))]), 'ok');
  });

  it('still rejects a value that nobody ever wrote', () => {
    assert.equal(verdict([op('a', 0, null, set('k', 'x')), op('b', 1, 2, get('k'), read('y', 3))]), 'illegal');
  });

  it('learns the version of a timed-out write from a later CAS that succeeds on it', () => {
    const h = [op('a', 0, null, set('k', 'x')), op('b', 10, 11, set('k', 'y', { ifVersion: 4 }), wrote(6)), op('c', 12, 13, get('k'), read('y', 6))];
    assert.equal(verdict(h), 'ok');
  });

  it('checks keys independently (a violation on one key is found among many good ones)', () => {
    const good: Op[] = [];
    for (let k = 0; k < 20; k++) good.push(op('a', k * 2, k * 2 + 1, set(`k${k}`, 'v'), wrote(k + 1)));
    assert.equal(verdict(good), 'ok');
    assert.equal(verdict([...good, op('b', 100, 101, get('k7'), read(null))]), 'illegal');
  });

  it('treats touching intervals (return and call at the same instant) as concurrent', () => {
    const h = [op('a', 0, 5, set('k', '1'), wrote(1)), op('b', 5, 6, get('k'), read(null))];
    assert.equal(verdict(h), 'ok');
  });

  it('handles a long concurrent history quickly thanks to memoisation', () => {
    const h: Op[] = [];
    let version = 0;
    // 8 clients each write then read their own writes, heavily overlapping.
    for (let round = 0; round < 150; round++) {
      for (let c = 0; c < 8; c++) h.push(op(`c${c}`, round * 10, round * 10 + 9, set('k', `${round}-${c}`), wrote(++version)));
      h.push(op('r', round * 10 + 9.5, round * 10 + 9.6, get('k'), read(`${round}-7`, version)));
    }
    const started = Date.now();
    assert.equal(verdict(h), 'ok');
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
  });

  it('agrees with a brute-force checker on random small histories', () => {
    let illegal = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const h = randomHistory(seed);
      const expected = bruteForce(kvRegisterModel, h);
      assert.equal(verdict(h) === 'ok', expected, `seed ${seed}: ${JSON.stringify(h)}`);
      if (!expected) illegal++;
    }
    // The generator corrupts some histories; make sure both outcomes were exercised.
    assert.ok(illegal > 40 && illegal < 360, `illegal ${illegal} of 400`);
  });
});

describe('lincheck: lock with TTL (never two owners at once)', () => {
  const acquire = (clientId: string, sentAt: number, completedAt: number | null, okay: boolean | null, believedUntil?: number): LockOp => ({
    clientId,
    kind: 'acquire',
    key: '/leader',
    sentAt,
    completedAt,
    ok: okay,
    believedUntil,
  });

  it('accepts a handover after the first holder released', () => {
    const h: LockOp[] = [
      acquire('a', 0, 1, true, 30),
      { clientId: 'a', kind: 'renew', key: '/leader', sentAt: 20, completedAt: 21, ok: true, believedUntil: 50 },
      { clientId: 'a', kind: 'release', key: '/leader', sentAt: 40, completedAt: 41, ok: true },
      acquire('b', 39, 42, true, 70),
    ];
    const r = checkLockHistory(h);
    assert.equal(r.ok, true, r.ok ? '' : r.message);
    assert.deepEqual(r.claims.map((c) => [c.holder, c.start, c.end]), [['a', 1, 40], ['b', 42, 70]]);
  });

  it('accepts a takeover after the first lease ran out as its holder believed', () => {
    const r = checkLockHistory([acquire('a', 0, 2, true, 30), acquire('b', 10, 11, false), acquire('b', 31, 32, true, 61)]);
    assert.equal(r.ok, true);
  });

  it('flags two holders whose believed leases overlap', () => {
    const r = checkLockHistory([acquire('a', 0, 2, true, 30), acquire('b', 10, 12, true, 40)]);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.message, /two owners of \/leader: a \[2, 30\) overlaps b \[12, 40\)/);
  });

  it('gives no belief for an unknown outcome, and ends belief when a renew fails', () => {
    const h: LockOp[] = [
      acquire('a', 0, null, null),
      acquire('b', 5, 6, true, 20),
      { clientId: 'b', kind: 'renew', key: '/leader', sentAt: 10, completedAt: 11, ok: false },
      acquire('c', 11, 12, true, 40),
    ];
    assert.equal(checkLockHistory(h).ok, true);
  });
});

// ---- helpers: random histories and a brute-force oracle ---------------------------------------


/**
 * Runs ≤ 7 random ops against a real register at random instants inside random intervals (so the
 * history is linearizable), then sometimes corrupts one output or drops one reply.
 */
function randomHistory(seed: number): Op[] {
  const r = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const n = 2 + Math.floor(r() * 6);
  let value: string | null = null;
  let version = 0;
  let index = 0;
  const planned = Array.from({ length: n }, (_, i) => {
    const call = Math.floor(r() * 20);
    const ret = call + 1 + Math.floor(r() * 8);
    return { i, call, ret, at: call + r() * (ret - call) };
  }).sort((a, b) => a.at - b.at);
  const ops: Op[] = [];
  for (const p of planned) {
    const kind = pick(['get', 'set', 'cas', 'create', 'delete', 'delif'] as const);
    let input: KvOpInput;
    let output: KvOpOutput;
    index += 1 + Math.floor(r() * 2);
    const cond =
      kind === 'cas' ? { ifVersion: r() < 0.6 ? version : pick([1, 2, 3]) } : kind === 'create' ? { ifVersion: 0 } : kind === 'delif' ? { ifValue: pick(['a', 'b']) } : {};
    if (kind === 'get') {
      input = get('k');
      output = value === null ? read(null) : read(value, version);
    } else if (kind === 'delete' || kind === 'delif') {
      input = del('k', cond);
      if (value === null) output = failed('not-found');
      else if (cond.ifValue !== undefined && cond.ifValue !== value) output = failed('value-mismatch');
      else {
        value = null;
        output = ok;
      }
    } else {
      const v = pick(['a', 'b', 'c']);
      input = set('k', v, cond);
      const iv = (cond as { ifVersion?: number }).ifVersion;
      if (iv === 0 && value !== null) output = failed('version-mismatch');
      else if (iv !== undefined && iv !== 0 && value === null) output = failed('not-found');
      else if (iv !== undefined && iv !== 0 && iv !== version) output = failed('version-mismatch');
      else {
        value = v;
        version = index;
        output = wrote(index);
      }
    }
    ops.push(op(`c${p.i}`, p.call, p.ret, input, output));
  }
  const mutation = r();
  const victim = ops[Math.floor(r() * ops.length)]!;
  if (mutation < 0.3) {
    victim.output = victim.input.op === 'get' ? read(pick(['a', 'b', null]), pick([1, 2, 3, 4])) : victim.output?.ok ? failed('version-mismatch') : wrote(pick([1, 2, 30]));
  } else if (mutation < 0.45) {
    victim.ret = null;
    victim.output = null;
  }
  return ops;
}

/** Exhaustive search over orders consistent with real time; unknown ops may be left out. */
function bruteForce<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[]): boolean {
  const done = new Array<boolean>(ops.length).fill(false);
  const search = (state: S, remainingDefinite: number): boolean => {
    if (remainingDefinite === 0) return true;
    for (let i = 0; i < ops.length; i++) {
      if (done[i]) continue;
      const o = ops[i]!;
      // o may go next only if no other pending op returned before o was called.
      if (ops.some((p, j) => !done[j] && j !== i && p.ret !== null && p.ret < o.call)) continue;
      for (const next of model.step(state, o.input, o.ret === null ? undefined : (o.output as O))) {
        done[i] = true;
        const found = search(next, remainingDefinite - (o.ret === null ? 0 : 1));
        done[i] = false;
        if (found) return true;
      }
    }
    return false;
  };
  return search(model.init(), ops.filter((o) => o.ret !== null).length);
}

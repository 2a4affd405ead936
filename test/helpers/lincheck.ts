/**
 * Linearizability checker (no such package exists on npm).
 *
 * Algorithm: Wing & Gong's search with Lowe's memoisation, in the shape Porcupine uses. Call and
 * return events sit in one time-ordered doubly linked list; the search repeatedly picks a pending
 * call that is minimal (no return precedes it in the remaining list), steps the sequential model,
 * "lifts" the op out of the list and restarts from the head; reaching a return event means the
 * op that returns there was not linearized in time, so it backtracks. A cache of
 * (set of linearized ops, model state) prunes re-exploring equivalent prefixes, which is what
 * makes this fast enough for thousands of ops per key.
 *
 * Extensions over the textbook version:
 * - Ops with an unknown outcome (timeout; `ret: null`) may or may not have taken effect: their
 *   return is at +∞ and they need not be linearized at all. The model steps them without an output.
 * - `Model.step` returns every possible next state (nondeterministic models, e.g. a version that is
 *   only known to be "greater than the last one"), empty when the output is impossible.
 * - P-compositionality: `Model.partition` splits the history into independent sub-histories (per
 *   key for a KV store); each is checked alone.
 *
 * Ties: a call and a return at the same instant are treated as concurrent (calls sort first), the
 * permissive reading for a simulator whose clock has coarse steps.
 */

export interface Operation<I, O> {
  clientId: string;
  input: I;
  /** Invocation time. */
  call: number;
  /** Completion time, or null when the outcome is unknown (may or may not have taken effect). */
  ret: number | null;
  /** The observed result; ignored when `ret` is null. */
  output: O | null;
}

export interface Model<S, I, O> {
  init(): S;
  /** States the model may be in after `input` producing `output` (undefined = not observed). */
  step(state: S, input: I, output: O | undefined): S[];
  /** A string that is equal exactly for equivalent states (memoisation key). */
  hash(state: S): string;
  /** Independent sub-histories; default: the whole history is one. */
  partition?(ops: Operation<I, O>[]): Operation<I, O>[][];
  describe?(op: Operation<I, O>): string;
}

export type CheckResult<I, O> =
  | { result: 'ok' }
  | {
      result: 'illegal';
      /** The sub-history with no linearization. */
      ops: Operation<I, O>[];
      /** The longest linearizable prefix found, in linearization order. */
      longest: Operation<I, O>[];
      message: string;
    }
  | { result: 'unknown'; message: string };

export interface CheckOptions {
  /** Search steps per partition before giving up with 'unknown' (default 10 million). */
  maxSteps?: number;
}

interface Node {
  op: number;
  isCall: boolean;
  time: number;
  prev: Node | null;
  next: Node | null;
  /** For a call: its return event. */
  match: Node | null;
}

interface Frame<S> {
  node: Node;
  stateBefore: S;
  alternatives: S[];
  chosen: number;
}

export function checkHistory<S, I, O>(model: Model<S, I, O>, history: Operation<I, O>[], options: CheckOptions = {}): CheckResult<I, O> {
  const parts = model.partition ? model.partition(history) : [history];
  for (const part of parts) {
    const r = checkPartition(model, part, options.maxSteps ?? 10_000_000);
    if (r.result !== 'ok') return r;
  }
  return { result: 'ok' };
}

function checkPartition<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[], maxSteps: number): CheckResult<I, O> {
  const head = buildEventList(ops);
  const linearized = new Uint32Array(Math.ceil(ops.length / 32));
  const cache = new Set<string>();
  const stack: Frame<S>[] = [];
  let state = model.init();
  let pendingDefinite = ops.filter((o) => o.ret !== null).length;
  let longest: number[] = [];
  let entry = head.next;
  let steps = 0;

  const tryAlternatives = (node: Node, stateBefore: S, alternatives: S[], from: number): boolean => {
    const bit = node.op;
    linearized[bit >>> 5]! |= 1 << (bit & 31);
    const bitsKey = linearized.join(',');
    for (let i = from; i < alternatives.length; i++) {
      const next = alternatives[i]!;
      const key = `${bitsKey}|${model.hash(next)}`;
      if (cache.has(key)) continue;
      cache.add(key);
      stack.push({ node, stateBefore, alternatives, chosen: i });
      if (stack.length > longest.length) longest = stack.map((f) => f.node.op);
      state = next;
      lift(node);
      if (ops[node.op]!.ret !== null) pendingDefinite--;
      entry = head.next;
      return true;
    }
    linearized[bit >>> 5]! &= ~(1 << (bit & 31));
    return false;
  };

  while (pendingDefinite > 0) {
    if (++steps > maxSteps) return { result: 'unknown', message: `gave up after ${maxSteps} search steps on ${ops.length} ops` };
    const node = entry!;
    if (node.isCall) {
      const op = ops[node.op]!;
      const alternatives = model.step(state, op.input, op.ret === null ? undefined : (op.output as O));
      if (!tryAlternatives(node, state, alternatives, 0)) entry = node.next;
      continue;
    }
    // A return event: its op had to be linearized before this point and was not. Backtrack.
    const frame = stack.pop();
    if (frame === undefined) {
      const describe = model.describe ?? defaultDescribe;
      const order = longest.map((i) => ops[i]!);
      const blocked = ops[node.op]!;
      return {
        result: 'illegal',
        ops,
        longest: order,
        message:
          `not linearizable: ${ops.length} ops, at most ${order.length} could be ordered; ` +
          `e.g. no order lets ${describe(blocked)} complete.\nLongest linearizable prefix:\n` +
          order.map((o) => `  ${describe(o)}`).join('\n'),
      };
    }
    unlift(frame.node);
    const bit = frame.node.op;
    linearized[bit >>> 5]! &= ~(1 << (bit & 31));
    if (ops[bit]!.ret !== null) pendingDefinite++;
    state = frame.stateBefore;
    if (!tryAlternatives(frame.node, frame.stateBefore, frame.alternatives, frame.chosen + 1)) entry = frame.node.next;
  }
  return { result: 'ok' };
}

function buildEventList<I, O>(ops: Operation<I, O>[]): Node {
  const events: Node[] = [];
  ops.forEach((op, i) => {
    if (op.ret !== null && op.ret < op.call) throw new Error(`lincheck: op ${i} returns (${op.ret}) before it is called (${op.call})`);
    const ret: Node = { op: i, isCall: false, time: op.ret ?? Infinity, prev: null, next: null, match: null };
    const call: Node = { op: i, isCall: true, time: op.call, prev: null, next: null, match: ret };
    events.push(call, ret);
  });
  events.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.op - b.op);
  const head: Node = { op: -1, isCall: false, time: -Infinity, prev: null, next: null, match: null };
  let last = head;
  for (const e of events) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

/** Unlink a call and its return (dancing links: they keep their own pointers for unlift). */
function lift(call: Node): void {
  for (const n of [call, call.match!]) {
    n.prev!.next = n.next;
    if (n.next) n.next.prev = n.prev;
  }
}

/** Undo `lift`, in reverse order, restoring the exact list (frames unwind LIFO). */
function unlift(call: Node): void {
  for (const n of [call.match!, call]) {
    n.prev!.next = n;
    if (n.next) n.next.prev = n;
  }
}

function defaultDescribe<I, O>(op: Operation<I, O>): string {
  const ret = op.ret === null ? '?' : String(op.ret);
  return `[${op.call}, ${ret}] ${op.clientId}: ${JSON.stringify(op.input)} -> ${op.ret === null ? 'unknown' : JSON.stringify(op.output)}`;
}

/** Split by a key function, keeping each part in the original order. */
export function partitionBy<I, O>(ops: Operation<I, O>[], keyOf: (op: Operation<I, O>) => string): Operation<I, O>[][] {
  const parts = new Map<string, Operation<I, O>[]>();
  for (const op of ops) {
    const k = keyOf(op);
    const list = parts.get(k);
    if (list) list.push(op);
    else parts.set(k, [op]);
  }
  return [...parts.values()];
}

// ---------------------------------------------------------------------------------------------
// Model: a KV register per key, with versions (Raft indexes) and compare-and-set — the semantics
// of src/raft/kv/store.ts for get / set / delete with ifVersion (0 = create) and ifValue.
// ---------------------------------------------------------------------------------------------

export type KvOpInput =
  | { op: 'get'; key: string }
  | { op: 'set'; key: string; value: string; ifVersion?: number; ifValue?: string }
  | { op: 'delete'; key: string; ifVersion?: number; ifValue?: string };

export type KvOpOutput =
  /** get: value null = absent. set: the new version, when the client learned it. */
  | { ok: true; value?: string | null; version?: number }
  | { ok: false; reason: 'version-mismatch' | 'value-mismatch' | 'not-found' };

/**
 * value null = absent. `version` is the current value's version when known; null when it is
 * known only to be > `floor` (a write whose reply was lost). Every later write gets a version
 * > floor (versions are Raft indexes, which only grow).
 */
export interface KvRegisterState {
  value: string | null;
  version: number | null;
  floor: number;
}

type Outcome = { success: true; state: KvRegisterState } | { success: false; reason: 'version-mismatch' | 'value-mismatch' | 'not-found'; state: KvRegisterState };

export const kvRegisterModel: Model<KvRegisterState, KvOpInput, KvOpOutput> = {
  init: () => ({ value: null, version: 0, floor: 0 }),
  hash: (s) => `${s.value === null ? '-' : JSON.stringify(s.value)}|${s.version ?? '?'}|${s.floor}`,
  partition: (ops) => partitionBy(ops, (o) => o.input.key),
  describe: (o) => {
    const { op, key, ...rest } = o.input as KvOpInput & Record<string, unknown>;
    const args = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
    const out = o.ret === null ? 'unknown (timeout)' : JSON.stringify(o.output);
    return `[${o.call}..${o.ret ?? '?'}] ${o.clientId} ${op} ${key}${args} -> ${out}`;
  },
  step(s, input, output) {
    if (input.op === 'get') {
      if (output === undefined) return [s];
      if (!output.ok) return [];
      if (output.value === null || output.value === undefined) return s.value === null ? [s] : [];
      if (s.value !== output.value) return [];
      if (output.version === undefined) return [s];
      if (s.version !== null) return s.version === output.version ? [s] : [];
      return output.version > s.floor ? [{ value: s.value, version: output.version, floor: output.version }] : [];
    }
    const results: KvRegisterState[] = [];
    for (const outcome of conditionOutcomes(s, input.ifVersion, input.ifValue, input.op === 'delete')) {
      if (!outcome.success) {
        if (output === undefined || (!output.ok && output.reason === outcome.reason)) results.push(outcome.state);
        continue;
      }
      const base = outcome.state;
      if (output !== undefined && !output.ok) continue;
      if (input.op === 'delete') {
        results.push({ value: null, version: null, floor: base.version ?? base.floor });
      } else if (output?.version !== undefined) {
        if (output.version > (base.version ?? base.floor)) results.push({ value: input.value, version: output.version, floor: output.version });
      } else {
        results.push({ value: input.value, version: null, floor: base.version ?? base.floor });
      }
    }
    return results;
  },
};

/** Success or failure of a write's conditions, in the store's order of checks; forks on unknown versions. */
function conditionOutcomes(s: KvRegisterState, ifVersion: number | undefined, ifValue: string | undefined, isDelete: boolean): Outcome[] {
  if (isDelete && s.value === null) return [{ success: false, reason: 'not-found', state: s }];
  const afterVersion: Outcome[] = [];
  if (ifVersion === undefined) {
    afterVersion.push({ success: true, state: s });
  } else if (ifVersion === 0) {
    afterVersion.push(s.value === null ? { success: true, state: s } : { success: false, reason: 'version-mismatch', state: s });
  } else if (s.value === null) {
    afterVersion.push({ success: false, reason: 'not-found', state: s });
  } else if (s.version !== null) {
    afterVersion.push(s.version === ifVersion ? { success: true, state: s } : { success: false, reason: 'version-mismatch', state: s });
  } else {
    // Unknown version: it may be this one (then we learn it) or another.
    if (ifVersion > s.floor) afterVersion.push({ success: true, state: { ...s, version: ifVersion, floor: ifVersion } });
    afterVersion.push({ success: false, reason: 'version-mismatch', state: s });
  }
  if (ifValue === undefined) return afterVersion;
  return afterVersion.map((o): Outcome => {
    if (!o.success) return o;
    if (o.state.value === null) return { success: false, reason: 'not-found', state: o.state };
    return o.state.value === ifValue ? o : { success: false, reason: 'value-mismatch', state: o.state };
  });
}

// ---------------------------------------------------------------------------------------------
// Lock with TTL: "never two owners of a lock key at once", judged on the holders' own beliefs.
// ---------------------------------------------------------------------------------------------

export interface LockOp {
  clientId: string;
  kind: 'acquire' | 'renew' | 'release';
  key: string;
  /** When the holder sent the request (history's common time scale). */
  sentAt: number;
  /** When the holder learned the outcome; null = never (timeout: it must not assume success). */
  completedAt: number | null;
  ok: boolean | null;
  /** For a successful acquire/renew: when the holder believes the lease ends (from its send). */
  believedUntil?: number;
}

/** An interval [start, end) during which `holder` believed it owned `key`. */
export interface LeaseClaim {
  key: string;
  holder: string;
  start: number;
  end: number;
}

/**
 * The intervals each holder believed it owned each key: from learning of a successful acquire or
 * renew until its believed deadline, cut short when it sends a release or learns a renew failed.
 */
export function leaseClaimsFromHistory(ops: LockOp[]): LeaseClaim[] {
  const claims: LeaseClaim[] = [];
  const byHolderKey = new Map<string, LockOp[]>();
  for (const op of ops) {
    const k = JSON.stringify([op.key, op.clientId]);
    byHolderKey.set(k, [...(byHolderKey.get(k) ?? []), op]);
  }
  for (const part of byHolderKey.values()) {
    // Process in the order the holder observed things: sends and completions.
    const events: { at: number; op: LockOp; phase: 'send' | 'done' }[] = [];
    for (const op of part) {
      events.push({ at: op.sentAt, op, phase: 'send' });
      if (op.completedAt !== null) events.push({ at: op.completedAt, op, phase: 'done' });
    }
    // At one instant, completions first: a holder learns of a grant before it sends anything else.
    const rank = (phase: 'send' | 'done'): number => (phase === 'done' ? 0 : 1);
    events.sort((a, b) => a.at - b.at || rank(a.phase) - rank(b.phase));
    let current: LeaseClaim | null = null;
    const close = (at: number): void => {
      if (current && at < current.end) current.end = at;
      current = null;
    };
    for (const { at, op, phase } of events) {
      if (current && at >= current.end) current = null;
      if (op.kind === 'release') {
        if (phase === 'send') close(at);
        continue;
      }
      if (phase !== 'done') continue;
      if (op.ok === true) {
        if (op.believedUntil === undefined) throw new Error(`lincheck: successful ${op.kind} by ${op.clientId} without believedUntil`);
        if (op.believedUntil <= at) continue;
        if (current) current.end = Math.max(current.end, op.believedUntil);
        else claims.push((current = { key: op.key, holder: op.clientId, start: at, end: op.believedUntil }));
      } else if (op.ok === false && op.kind === 'renew') {
        close(at);
      }
    }
  }
  return claims.filter((c) => c.end > c.start);
}

export interface LeaseViolation {
  key: string;
  first: LeaseClaim;
  second: LeaseClaim;
}

/** Every pair of different holders whose believed ownership of one key overlaps. */
export function findLeaseOverlaps(claims: LeaseClaim[]): LeaseViolation[] {
  const violations: LeaseViolation[] = [];
  const byKey = new Map<string, LeaseClaim[]>();
  for (const c of claims) byKey.set(c.key, [...(byKey.get(c.key) ?? []), c]);
  for (const [key, list] of byKey) {
    list.sort((a, b) => a.start - b.start || a.end - b.end);
    let active: LeaseClaim[] = [];
    for (const c of list) {
      active = active.filter((a) => a.end > c.start);
      for (const a of active) if (a.holder !== c.holder) violations.push({ key, first: a, second: c });
      active.push(c);
    }
  }
  return violations;
}

export function checkLockHistory(ops: LockOp[]): { ok: true; claims: LeaseClaim[] } | { ok: false; claims: LeaseClaim[]; violations: LeaseViolation[]; message: string } {
  const claims = leaseClaimsFromHistory(ops);
  const violations = findLeaseOverlaps(claims);
  if (violations.length === 0) return { ok: true, claims };
  const fmt = (c: LeaseClaim): string => `${c.holder} [${c.start}, ${c.end})`;
  const message = violations
    .slice(0, 5)
    .map((v) => `two owners of ${v.key}: ${fmt(v.first)} overlaps ${fmt(v.second)}`)
    .join('\n');
  return { ok: false, claims, violations, message };
}

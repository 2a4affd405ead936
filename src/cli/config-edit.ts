/**
 * `hactl edit-config` and `show-config` without I/O: `--set`/`--pg` assignments, applying them, the
 * YAML shown to the operator, a unified diff of the change, and the JSON merge-patch that is sent
 * (PATCH /config; `null` removes a key).
 */
import type { ChalkInstance } from 'chalk';
import { parse, stringify } from 'yaml';

export type ConfigMap = Record<string, unknown>;

export interface Assignment {
  path: string[];
  /** null removes the key. */
  value: unknown;
}

export class InvalidSetting extends Error {
  constructor(pair: string, why?: string) {
    super(`Invalid parameter setting ${pair}${why ? `: ${why}` : ''}`);
    this.name = 'InvalidSetting';
  }
}

/**
 * `-s key.path=value` (values parsed as YAML, `null` removes; PostgreSQL parameter names keep their
 * dots: `postgresql.parameters.auto_explain.log_min_duration`) and `-p name=value` for
 * `postgresql.parameters.name`.
 */
export function parseAssignments(sets: string[], pgs: string[]): Assignment[] {
  const split = (pair: string): [string, unknown] => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new InvalidSetting(pair);
    const raw = pair.slice(eq + 1);
    let value: unknown;
    try {
      value = raw === '' ? null : parse(raw);
    } catch (err) {
      throw new InvalidSetting(pair, (err as Error).message.split('\n')[0]);
    }
    return [pair.slice(0, eq).trim(), value];
  };
  const out: Assignment[] = [];
  for (const pair of sets) {
    const [key, value] = split(pair);
    const parts = key.split('.');
    if (parts.some((p) => p === '')) throw new InvalidSetting(pair, 'empty key');
    const path = parts[0] === 'postgresql' && parts[1] === 'parameters' && parts.length > 3 ? ['postgresql', 'parameters', parts.slice(2).join('.')] : parts;
    out.push({ path, value });
  }
  for (const pair of pgs) {
    const [key, value] = split(pair);
    out.push({ path: ['postgresql', 'parameters', key], value });
  }
  return out;
}

export function applyAssignments(config: ConfigMap, assignments: Assignment[]): ConfigMap {
  const next = structuredClone(config);
  for (const { path, value } of assignments) {
    let obj: ConfigMap = next;
    for (const key of path.slice(0, -1)) {
      const child = obj[key];
      if (child === null || typeof child !== 'object' || Array.isArray(child)) {
        if (value === null) break;
        obj[key] = {};
      }
      obj = obj[key] as ConfigMap;
    }
    const last = path[path.length - 1]!;
    if (value === null) delete obj[last];
    else obj[last] = value;
  }
  return next;
}

/** Block YAML with sorted keys, as patronictl shows the configuration. */
export function configToYaml(config: ConfigMap): string {
  return stringify(config, { sortMapEntries: true, lineWidth: 0 });
}

/** What the operator saved in the editor (or gave with --apply); must be a mapping. */
export function parseConfigYaml(text: string, source: string): ConfigMap {
  let v: unknown;
  try {
    v = parse(text);
  } catch (err) {
    throw new Error(`${source}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${source}: the configuration must be a mapping`);
  return v as ConfigMap;
}

/** RFC 7396 merge-patch turning `before` into `after` (what PATCH /config applies). */
export function mergePatch(before: ConfigMap, after: ConfigMap): ConfigMap {
  const patch: ConfigMap = {};
  for (const key of Object.keys(before)) if (!(key in after)) patch[key] = null;
  for (const [key, value] of Object.entries(after)) {
    const old = before[key];
    if (isMap(old) && isMap(value)) {
      const sub = mergePatch(old, value);
      if (Object.keys(sub).length > 0) patch[key] = sub;
    } else if (!deepEqual(old, value)) {
      // A key set to null in the edited YAML is removed, since null deletes in a merge-patch (patronictl too).
      patch[key] = value;
    }
  }
  return patch;
}

function isMap(v: unknown): v is ConfigMap {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Unified diff (`---`/`+++`, `@@` hunks, 3 lines of context); '' when the texts are equal. */
export function unifiedDiff(before: string, after: string, fromName: string, toName: string, context = 3): string {
  const a = splitLines(before);
  const b = splitLines(after);
  const ops = diffLines(a, b);
  if (ops.every((o) => o.op === ' ')) return '';
  const out = [`--- ${fromName}`, `+++ ${toName}`];
  // Group changes whose contexts touch into one hunk.
  const changed = ops.map((o, i) => (o.op === ' ' ? -1 : i)).filter((i) => i >= 0);
  let start = 0;
  while (start < changed.length) {
    let end = start;
    while (end + 1 < changed.length && changed[end + 1]! - changed[end]! <= 2 * context + 1) end++;
    const from = Math.max(0, changed[start]! - context);
    const to = Math.min(ops.length - 1, changed[end]! + context);
    const slice = ops.slice(from, to + 1);
    const aStart = ops.slice(0, from).filter((o) => o.op !== '+').length;
    const bStart = ops.slice(0, from).filter((o) => o.op !== '-').length;
    const aLen = slice.filter((o) => o.op !== '+').length;
    const bLen = slice.filter((o) => o.op !== '-').length;
    out.push(`@@ -${aLen === 0 ? aStart : aStart + 1},${aLen} +${bLen === 0 ? bStart : bStart + 1},${bLen} @@`);
    for (const o of slice) out.push(`${o.op}${o.line}`);
    start = end + 1;
  }
  return out.join('\n');
}

export function colorDiff(diff: string, c: ChalkInstance): string {
  return diff
    .split('\n')
    .map((l) => (l.startsWith('+++') || l.startsWith('---') ? c.bold(l) : l.startsWith('@@') ? c.cyan(l) : l.startsWith('+') ? c.green(l) : l.startsWith('-') ? c.red(l) : l))
    .join('\n');
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  return text.replace(/\n$/, '').split('\n');
}

/** Longest-common-subsequence line diff; configurations are small, O(n·m) is fine. */
function diffLines(a: string[], b: string[]): { op: ' ' | '-' | '+'; line: string }[] {
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  }
  const out: { op: ' ' | '-' | '+'; line: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ op: ' ', line: a[i]! });
      i++;
      j++;
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) {
      out.push({ op: '-', line: a[i++]! });
    } else {
      out.push({ op: '+', line: b[j++]! });
    }
  }
  while (i < n) out.push({ op: '-', line: a[i++]! });
  while (j < m) out.push({ op: '+', line: b[j++]! });
  return out;
}

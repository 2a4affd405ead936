/**
 * Walks the YAML document and reports every key hactl does not implement (key-support.ts): a WARNING
 * with file:line for keys accepted but not acted on, and for unknown keys (with a "did you mean"), a
 * ConfigError for refused ones. Also the spellings Patroni accepts with a warning of its own
 * (contradictory tag pairs, as Patroni 3.3+ does).
 */
import { isMap, isScalar, type Document, type Pair, type YAMLMap } from 'yaml';
import { ConfigError } from './errors.js';
import { knownChildren, ruleFor, type KeyRule } from './key-support.js';

export interface KeyReport {
  warnings: string[];
  errors: ConfigError[];
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

export function didYouMean(key: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(key.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  // A typo, not another word: at most a third of the letters differ.
  return best !== null && bestD <= Math.max(1, Math.floor(best.length / 3)) ? best : null;
}

/** Rules that depend on the file itself: sections of custom replica and bootstrap methods it names. */
function documentRules(doc: Document): Array<{ prefix: string[]; rule: KeyRule }> {
  const out: Array<{ prefix: string[]; rule: KeyRule }> = [];
  const methods = doc.getIn(['postgresql', 'create_replica_methods']);
  const list = methods && typeof methods === 'object' && 'items' in methods ? (methods as { items: unknown[] }).items.map((i) => (isScalar(i) ? String(i.value) : '')) : [];
  for (const m of list.filter((m) => m !== '' && m !== 'basebackup')) {
    // The method's own keys are free-form: each becomes a --key=value argument of its command.
    out.push({ prefix: ['postgresql', m], rule: { pattern: `postgresql.${m}.**`, support: 'ok' } });
  }
  const method = doc.getIn(['bootstrap', 'method']);
  if (typeof method === 'string' && method !== 'initdb') {
    out.push({ prefix: ['bootstrap', method], rule: { pattern: `bootstrap.${method}.**`, support: 'ok' } });
  }
  return out;
}

function describe(rule: KeyRule, dotted: string): string {
  if (rule.support === 'later') return `${dotted} is accepted but not implemented yet (${rule.note ?? 'ignored'})`;
  return `${dotted} is ignored by hactl (${rule.note ?? 'no effect'})`;
}

/**
 * Classifies every key of `doc`. `where(offset)` turns a node offset into `file:line:col`. Keys under a
 * reported key are not reported again (one line per decision the user has to make).
 */
export function reportKeys(doc: Document, where: (offset: number) => string): KeyReport {
  const report: KeyReport = { warnings: [], errors: [] };
  const extra = documentRules(doc);
  const visit = (map: YAMLMap, path: string[]): void => {
    for (const pair of map.items as Array<Pair<unknown, unknown>>) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const keyPath = [...path, key];
      const dotted = keyPath.join('.');
      const at = where((pair.key as { range?: [number, number, number] }).range?.[0] ?? 0);
      const rule = extra.find((e) => e.prefix.every((p, i) => keyPath[i] === p) && keyPath.length >= e.prefix.length)?.rule ?? ruleFor(keyPath);
      if (!rule) {
        const guess = didYouMean(key, knownChildren(path));
        report.warnings.push(`${at}: unknown key ${dotted}${guess ? `; did you mean ${[...path, guess].join('.')}?` : ''} (ignored)`);
        continue;
      }
      if (rule.support === 'refused') {
        report.errors.push(new ConfigError(`${dotted} is not supported: ${rule.note ?? 'refused'}`, at));
        continue;
      }
      if (rule.support !== 'ok') {
        report.warnings.push(`${at}: ${describe(rule, dotted)}`);
        continue;
      }
      if (rule.pattern.endsWith('**')) continue;
      if (isMap(pair.value)) visit(pair.value, keyPath);
    }
  };
  if (isMap(doc.contents)) visit(doc.contents, []);
  return report;
}

/**
 * Patroni 3.3+ accepts nofailover with failover_priority (nosync with sync_priority) and warns when they
 * say different things (true with a priority > 0, false with one <= 0); the boolean then wins.
 */
export function contradictoryTags(tags: Record<string, unknown>): Array<{ message: string; ignored: string }> {
  const out: Array<{ message: string; ignored: string }> = [];
  for (const [flag, priority] of [['nofailover', 'failover_priority'], ['nosync', 'sync_priority']] as const) {
    if (tags[flag] === undefined || tags[priority] === undefined) continue;
    const on = tags[flag] === true;
    const value = Number(tags[priority]);
    if (on !== value > 0) continue;
    // Patroni's sentence, word for word (its features grep the log for it), values as Python prints them.
    const shown = pythonStr(tags[flag]);
    out.push({
      message: `Conflicting configuration between ${flag}: ${shown} and ${priority}: ${value}. Defaulting to ${flag}: ${shown}`,
      ignored: priority,
    });
  }
  return out;
}

/** A YAML scalar as Python's str() shows it: True/False for booleans. */
function pythonStr(value: unknown): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}

/**
 * The same classification for the dynamic configuration as it arrives over REST (PATCH/PUT /config,
 * `hactl edit-config`): its keys are those of `bootstrap.dcs`, with no file:line to name. One line per
 * key not simply implemented, e.g. `postgresql.parameters_primary is ignored by hactl (…)` or `unknown key
 * postgresql.paramaters; did you mean postgresql.parameters? (ignored)`. Refused keys are reported the
 * same way: the agent keeps running on the rest, as it does with a config key written by another tool.
 */
export function reportDynamicKeys(data: Record<string, unknown>): string[] {
  const base = ['bootstrap', 'dcs'];
  const out: string[] = [];
  const visit = (map: Record<string, unknown>, path: string[]): void => {
    for (const [key, value] of Object.entries(map)) {
      // A merge-patch null deletes the key: nothing is set, nothing to say.
      if (value === null) continue;
      const keyPath = [...path, key];
      const dotted = keyPath.join('.');
      const rule = ruleFor([...base, ...keyPath]);
      if (!rule) {
        const guess = didYouMean(key, knownChildren([...base, ...path]));
        out.push(`unknown key ${dotted}${guess ? `; did you mean ${[...path, guess].join('.')}?` : ''} (ignored)`);
        continue;
      }
      if (rule.support === 'refused') {
        out.push(`${dotted} is not supported: ${rule.note ?? 'refused'}`);
        continue;
      }
      if (rule.support !== 'ok') {
        out.push(describe(rule, dotted));
        continue;
      }
      if (rule.pattern.endsWith('**')) continue;
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) visit(value as Record<string, unknown>, keyPath);
    }
  };
  visit(data, []);
  return out;
}

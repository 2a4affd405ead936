/**
 * `synchronous_standby_names` as text: rendering the leader's choice (`FIRST n (…)`, `ANY k (…)`)
 * and reading back what the server shows, so the sync planner knows which standbys the commits
 * currently wait for. Pure.
 */

/**
 * Patroni's placeholder for strict mode without a standby: a name no member can have (the config
 * refuses it), so commits wait and nothing ever confirms them until a real standby is listed.
 * Patroni's exact string, so operators and tools that know it recognise the state.
 */
export const STRICT_PLACEHOLDER = '__patroni_strict_sync_replica_placeholder__';

export interface SyncNames {
  /** `first`: the first `num` connected names by list order; `any`: any `num` of them (quorum). */
  method: 'first' | 'any';
  /** How many standbys must confirm a commit; 0 for an empty setting (asynchronous). */
  num: number;
  names: string[];
}

/** A standby name as PostgreSQL's syncrep parser reads it: always double-quoted (`"` doubled). */
function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `FIRST n ("a","b")` / `ANY k ("a","b")` (no space after the comma, as Patroni writes it); '' for no synchronous standby. */
export function renderSyncNames(value: SyncNames): string {
  if (value.names.length === 0 || value.num <= 0) return '';
  return `${value.method === 'any' ? 'ANY' : 'FIRST'} ${value.num} (${value.names.map(quote).join(',')})`;
}

/** Splits a name list on commas outside double quotes, unquoting quoted names. */
function splitNames(list: string): string[] | null {
  const names: string[] = [];
  let i = 0;
  while (i < list.length) {
    while (i < list.length && /\s/.test(list[i]!)) i++;
    let name = '';
    if (list[i] === '"') {
      i++;
      for (;;) {
        if (i >= list.length) return null;
        if (list[i] === '"') {
          if (list[i + 1] === '"') {
            name += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        name += list[i++];
      }
    } else {
      while (i < list.length && list[i] !== ',') name += list[i++];
      name = name.trim();
    }
    while (i < list.length && /\s/.test(list[i]!)) i++;
    if (name === '') return null;
    names.push(name);
    if (i < list.length) {
      if (list[i] !== ',') return null;
      i++;
    }
  }
  return names;
}

/**
 * Reads a setting the way PostgreSQL does: `FIRST n (…)`, `ANY n (…)`, the old `n (…)` priority
 * form, or a bare list (= FIRST 1). Null when the text does not parse (a hand-written oddity:
 * the planner then rewrites it).
 */
export function parseSyncNames(text: string): SyncNames | null {
  const trimmed = text.trim();
  if (trimmed === '') return { method: 'first', num: 0, names: [] };
  const match = /^(?:(FIRST|ANY)\s+)?(?:(\d+)\s*)?\((.*)\)$/is.exec(trimmed);
  if (match) {
    const names = splitNames(match[3]!);
    if (names === null) return null;
    const method = match[1]?.toUpperCase() === 'ANY' ? 'any' : 'first';
    if (match[1] && match[2] === undefined) return null;
    return { method, num: match[2] === undefined ? 1 : Number(match[2]), names };
  }
  const names = splitNames(trimmed);
  return names === null ? null : { method: 'first', num: 1, names };
}

/** Case-insensitive membership, as PostgreSQL matches application_name against the list. */
export function includesName(names: readonly string[], name: string): boolean {
  const lower = name.toLowerCase();
  return names.some((n) => n.toLowerCase() === lower);
}

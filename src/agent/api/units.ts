/**
 * Parsing of the human values the REST API accepts: sizes (`?lag=10MB`), durations (restart
 * `timeout`), booleans (`force`), PostgreSQL versions and schedule timestamps. Patroni's rules,
 * with units matched case-insensitively (Patroni treats `10mb` as "no limit", which surprises).
 */

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };
const TIME_UNITS_SECONDS: Record<string, number> = { ms: 0.001, s: 1, min: 60, h: 3600, d: 86400 };

function parseWithUnit(text: string, units: Record<string, number>, defaultUnit: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!match) return null;
  const factor = units[(match[2] || defaultUnit).toLowerCase()];
  if (factor === undefined) return null;
  return Number(match[1]) * factor;
}

/** `1048576`, `16kB`, `10MB`, `1GB` → bytes (1024-based); null when unparsable (Patroni: no limit). */
export function parseBytes(text: string): number | null {
  const value = parseWithUnit(text, SIZE_UNITS, 'b');
  return value === null ? null : Math.round(value);
}

/** `30`, `30s`, `2min`, `500ms` (or a JSON number) → seconds; null when unparsable. */
export function parseSeconds(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value !== 'string') return null;
  return parseWithUnit(value, TIME_UNITS_SECONDS, 's');
}

/** Patroni's parse_bool: true/false, on/off, yes/no, 1/0 (strings case-insensitive); null otherwise. */
export function parseBool(value: unknown): boolean | null {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value === 1 ? true : value === 0 ? false : null;
  if (typeof value !== 'string') return null;
  const s = value.trim().toLowerCase();
  if (['true', 'on', 'yes', '1', 'y', 't'].includes(s)) return true;
  if (['false', 'off', 'no', '0', 'n', 'f'].includes(s)) return false;
  return null;
}

/**
 * `X.Y` (≥ 10) or `X.Y.Z` → PostgreSQL's integer form (`16.4` → 160004, `9.6.24` → 90624), as
 * Patroni's postgres_version_to_int; an integer form is accepted as is. Throws with Patroni's text.
 */
export function postgresVersionToInt(version: string): number {
  if (/^\d{5,6}$/.test(version)) return Number(version);
  const parts = version.split('.');
  if (!parts.every((p) => /^\d+$/.test(p))) {
    throw new Error(`Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: ${version}`);
  }
  const nums = parts.map(Number);
  if (nums.length < 2 || (nums.length === 2 && nums[0]! < 10) || nums.length > 3) {
    throw new Error(`Invalid PostgreSQL major version format: X.Y or X.Y.Z is accepted: ${version}`);
  }
  if (nums.length === 2) nums.splice(1, 0, 0);
  return Number(nums.map((n) => String(n).padStart(2, '0')).join(''));
}

export type ScheduleParse =
  | { ok: true; text: string; ms: number }
  | { ok: false; status: 400 | 422; text: string };

const ISO_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * Patroni's parse_schedule: 400 without a time zone, 422 in the past or unparsable. We accept ISO
 * 8601 (date, optional time, `Z` or `±HH[:MM]`) where Patroni accepts whatever dateutil guesses.
 */
export function parseSchedule(text: unknown, action: string, nowMs: number): ScheduleParse {
  const unparsable: ScheduleParse = {
    ok: false,
    status: 422,
    text: 'Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601',
  };
  if (typeof text !== 'string') return unparsable;
  const match = ISO_TIMESTAMP.exec(text.trim());
  if (!match) return unparsable;
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone] = match;
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    return unparsable;
  }
  if (!zone) return { ok: false, status: 400, text: `Timezone information is mandatory for the scheduled ${action}` };
  let offsetMinutes = 0;
  if (zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    offsetMinutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0');
    if (zone.startsWith('-')) offsetMinutes = -offsetMinutes;
  }
  const ms =
    Date.UTC(Number(y), month - 1, day, Number(h), Number(mi), Number(s), Number(frac.padEnd(3, '0').slice(0, 3))) -
    offsetMinutes * 60_000;
  // Date.UTC rolls 31 Feb over into March; dateutil refuses it.
  if (!Number.isFinite(ms) || new Date(Date.UTC(Number(y), month - 1, day)).getUTCDate() !== day) return unparsable;
  if (ms < nowMs) return { ok: false, status: 422, text: `Cannot schedule ${action} in the past` };
  return { ok: true, text: text.trim(), ms };
}

/** Plain-text output formats shared by commands: JSON and pysyncobj-style `key: value` lines. */

export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** `key: value` lines sorted by key, as `syncobj_admin -status` prints them (operators grep these). */
export function formatKeyValueLines(record: Record<string, unknown>): string {
  return Object.keys(record)
    .sort()
    .map((k) => `${k}: ${formatScalar(record[k])}`)
    .join('\n');
}

export function formatScalar(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** "1h 02m 03s" for an uptime in seconds. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m ${String(rest).padStart(2, '0')}s`;
  if (m > 0) return `${m}m ${String(rest).padStart(2, '0')}s`;
  return `${rest}s`;
}

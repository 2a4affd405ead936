/**
 * `--scheduled` times for switchover and restart: `now` or an unambiguous timestamp. A time without
 * a zone is taken as local time (patronictl does the same) and sent as ISO 8601 with the offset, so
 * the agent, which needs a zone, gets exactly what the operator meant.
 */
export function parseScheduleTime(text: string): { iso: string | null } | { error: string } {
  const t = text.trim();
  if (t === '' || t.toLowerCase() === 'now') return { iso: null };
  // Date.parse reads "YYYY-MM-DD HH:MM" and "YYYY-MM-DDTHH:MM" without a zone as local time.
  const ms = /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(t) ? Date.parse(t.replace(' ', 'T')) : NaN;
  if (Number.isNaN(ms)) {
    return { error: `Unable to parse scheduled timestamp (${text}). It should be in an unambiguous format (e.g. ISO 8601)` };
  }
  return { iso: isoWithOffset(new Date(ms)) };
}

/** `2026-11-25T19:42:57+01:00`: local wall time with its offset. */
export function isoWithOffset(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

/** patronictl's result line prefix: `2023-09-12 11:52:27.50978` (local time). */
export function resultTimestamp(d: Date): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/**
 * Patroni's `log.format` / `log.dateformat` / `log.type: json` / `log.static_fields` for hactl's line
 * logger. `format` uses Python logging's `%(field)s` placeholders (asctime, levelname, message, name,
 * process, levelno, created, msecs); `dateformat` Python's strftime codes. With `type: json` each line
 * is one JSON object of the fields `format` names (a list may rename them: `{asctime: '@timestamp'}`)
 * plus the static fields, as Patroni does with python-json-logger.
 */

export const DEFAULT_LOG_FORMAT = '%(asctime)s %(levelname)s: %(message)s';

export interface LogRecord {
  time: Date;
  /** Python's level name: DEBUG, INFO, WARNING, ERROR, CRITICAL. */
  levelname: string;
  levelno: number;
  message: string;
}

export interface LogFormatOptions {
  type?: 'plain' | 'json';
  format?: string | Array<string | Record<string, string>>;
  dateformat?: string;
  staticFields?: Record<string, unknown>;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Python's strftime on UTC time (the agent logs in UTC, as its default format always did). */
export function strftime(format: string, d: Date): string {
  return format.replace(/%([a-zA-Z%])/g, (all, code: string) => {
    switch (code) {
      case 'Y': return String(d.getUTCFullYear());
      case 'y': return pad(d.getUTCFullYear() % 100);
      case 'm': return pad(d.getUTCMonth() + 1);
      case 'd': return pad(d.getUTCDate());
      case 'H': return pad(d.getUTCHours());
      case 'I': return pad(((d.getUTCHours() + 11) % 12) + 1);
      case 'p': return d.getUTCHours() < 12 ? 'AM' : 'PM';
      case 'M': return pad(d.getUTCMinutes());
      case 'S': return pad(d.getUTCSeconds());
      case 'f': return pad(d.getUTCMilliseconds() * 1000, 6);
      case 'j': return pad(Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1, 3);
      case 'a': return DAYS[d.getUTCDay()]!;
      case 'b': return MONTHS[d.getUTCMonth()]!;
      case 'z': return '+0000';
      case 'Z': return 'UTC';
      case 's': return String(Math.floor(d.getTime() / 1000));
      case '%': return '%';
      default: return all;
    }
  });
}

/** Python logging's asctime: the dateformat, or `YYYY-MM-DD HH:MM:SS,mmm`. */
function asctime(d: Date, dateformat: string | undefined): string {
  if (dateformat) return strftime(dateformat, d);
  return `${strftime('%Y-%m-%d %H:%M:%S', d)},${pad(d.getUTCMilliseconds(), 3)}`;
}

function fieldValue(field: string, r: LogRecord, dateformat: string | undefined): string | number | undefined {
  switch (field) {
    case 'asctime': return asctime(r.time, dateformat);
    case 'levelname': return r.levelname;
    case 'levelno': return r.levelno;
    case 'message': return r.message;
    case 'name': return 'hactl';
    case 'process': return process.pid;
    case 'created': return r.time.getTime() / 1000;
    case 'msecs': return r.time.getUTCMilliseconds();
    default: return undefined;
  }
}

/** `%(name)s` / `%(name)d` / `%(name)-8s` placeholders. */
const PLACEHOLDER = /%\((\w+)\)(-?\d*)[sdfr]/g;

/** A function that turns a record into one line, per the `log` section. */
export function createFormatter(options: LogFormatOptions = {}): (r: LogRecord) => string {
  const dateformat = options.dateformat || undefined;
  if (options.type === 'json') {
    const fields: Array<[string, string]> = [];
    const format = options.format ?? DEFAULT_LOG_FORMAT;
    if (typeof format === 'string') for (const m of format.matchAll(PLACEHOLDER)) fields.push([m[1]!, m[1]!]);
    else for (const item of format) {
      if (typeof item === 'string') fields.push([item, item]);
      else for (const [from, to] of Object.entries(item)) fields.push([from, to]);
    }
    return (r) => {
      const out: Record<string, unknown> = {};
      for (const [from, to] of fields) {
        const v = fieldValue(from, r, dateformat);
        if (v !== undefined) out[to] = v;
      }
      return JSON.stringify({ ...out, ...(options.staticFields ?? {}) });
    };
  }
  const format = typeof options.format === 'string' ? options.format : DEFAULT_LOG_FORMAT;
  return (r) =>
    format.replace(PLACEHOLDER, (all, field: string, width: string) => {
      const v = fieldValue(field, r, dateformat);
      if (v === undefined) return all;
      const s = String(v);
      const w = Number(width);
      return width === '' ? s : w < 0 ? s.padEnd(-w) : s.padStart(w);
    });
}

/**
 * The one line logger of hactl (STYLE.md "one logger"): one line per event on stderr. Used by the
 * long-running commands (`hactl raft node`, `hactl agent`) and, through the Logger interface, by
 * the Raft library. Two layouts of the same line:
 * - `plain`:   `2025-01-01T12:00:00.000Z INFO  message` (the Raft witness node)
 * - `patroni`: `2025-01-01 12:00:00,000 INFO: message` (the agent: Patroni's default format, so log
 *   greps written for Patroni keep working).
 */
import type { LogRecord } from './log-format.js';
import type { Logger } from './raft/kv/types.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'critical';

/** A Logger with Patroni's extra CRITICAL level (fatal exits). */
export interface LineLogger extends Logger {
  critical(message: string): void;
  /** Changes the threshold at run time (SIGHUP reload of `log.level`). */
  setLevel(level: LogLevel): void;
  /** Replaces the line layout and/or the destination (`log.format`, `log.type`, `log.dir`; log-format.ts, log-file.ts). */
  setOutput(output: { format?: (record: LogRecord) => string; write?: (line: string) => void }): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, critical: 50 };
const PATRONI_NAME: Record<LogLevel, string> = { debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR', critical: 'CRITICAL' };

/** Accepts our names and Patroni's (`WARNING`, `CRITICAL`), any case. */
export function parseLogLevel(v: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  const l = (v ?? '').toLowerCase();
  if (l === 'warning') return 'warn';
  return l in ORDER ? (l as LogLevel) : fallback;
}

export interface LineLoggerOptions {
  level?: LogLevel;
  style?: 'plain' | 'patroni';
  write?: (line: string) => void;
  now?: () => Date;
}

function patroniTime(d: Date): string {
  const iso = d.toISOString(); // 2025-01-01T12:00:00.000Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)},${iso.slice(20, 23)}`;
}

export function createLineLogger(options: LineLoggerOptions = {}): LineLogger {
  let threshold = options.level ?? 'info';
  const style = options.style ?? 'plain';
  let write = options.write ?? ((l: string) => process.stderr.write(l + '\n'));
  const now = options.now ?? (() => new Date());
  let format: ((r: LogRecord) => string) | null = null;
  const at = (lvl: LogLevel) => (message: string) => {
    if (ORDER[lvl] < ORDER[threshold]) return;
    const d = now();
    if (format) write(format({ time: d, levelname: PATRONI_NAME[lvl], levelno: ORDER[lvl], message }));
    else write(style === 'patroni' ? `${patroniTime(d)} ${PATRONI_NAME[lvl]}: ${message}` : `${d.toISOString()} ${lvl.toUpperCase().padEnd(5)} ${message}`);
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    critical: at('critical'),
    setLevel(level) {
      threshold = level;
    },
    setOutput(output) {
      if (output.format) format = output.format;
      if (output.write) write = output.write;
    },
  };
}

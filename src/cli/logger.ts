/**
 * Line logger for long-running commands (`hactl raft node`): one line per event on stderr,
 * `2025-01-01T12:00:00.000Z INFO  message`. Implements the Raft library's Logger interface.
 */
import type { Logger } from '../raft/kv/types.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function parseLogLevel(v: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  const l = (v ?? '').toLowerCase();
  return l in ORDER ? (l as LogLevel) : fallback;
}

export function createLineLogger(level: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const at = (lvl: LogLevel) => (message: string) => {
    if (ORDER[lvl] < ORDER[level]) return;
    write(`${new Date().toISOString()} ${lvl.toUpperCase().padEnd(5)} ${message}`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * Line logger for long-running commands (`hactl raft node`): the shared one in src/logger.ts,
 * `2025-01-01T12:00:00.000Z INFO  message` on stderr. Implements the Raft library's Logger interface.
 */
import type { Logger } from '../raft/kv/types.js';
import { createLineLogger as createShared, parseLogLevel, type LogLevel } from '../logger.js';

export { parseLogLevel, type LogLevel };

export function createLineLogger(level: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  return createShared({ level, write, style: 'plain' });
}

/**
 * Colours for terminal output: on only when the stream is a TTY and NO_COLOR is unset
 * (https://no-color.org), so piped output and logs stay plain text.
 */
import { Chalk, type ChalkInstance } from 'chalk';

export function colorsEnabled(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true;
}

export function makeColors(enabled = colorsEnabled()): ChalkInstance {
  return new Chalk({ level: enabled ? 1 : 0 });
}

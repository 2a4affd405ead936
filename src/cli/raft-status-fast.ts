/**
 * `hactl raft status` without oclif, for monitoring loops (issue 19: at most syncobj_admin's time).
 * bin/run.js loads this module from its own small bundle (dist/raft-status.cjs, scripts/bundle.mjs)
 * and runs it when the arguments are ones this parser fully understands; for anything else
 * (help, unknown, repeated or malformed flags, --json with --raw, DEBUG output) parseFastArgs says
 * null and oclif runs the command as before, so help, parse errors and their exit codes stay
 * oclif's. Once parsed, this path never hands over: it prints the same output and the same
 * `Error: …` line through the same modules as src/commands/raft/status.ts, so a timeout is waited
 * once. test/cli/raft-status-fast.test.ts compares both paths byte for byte.
 */
import { cliErrorMessage } from './errors.js';
import { formatJson, formatKeyValueLines } from './format.js';
import { renderStatus } from './raft-render.js';
import { withAdminClient } from '../raft/admin/client.js';

export interface FastRaftStatusFlags {
  connect: string;
  password: string | undefined;
  /** Seconds, as the --timeout flag. */
  timeout: number;
  json: boolean;
  raw: boolean;
}

/**
 * What this parser knows of the command's flags (src/cli/raft-flags.ts, src/commands/raft/status.ts).
 * Not imported from there: those modules load oclif, which this path exists to skip. The test
 * checks these against the oclif flag definitions, so a change there fails it instead of drifting.
 */
export const FAST_FLAG_FACTS = {
  connect: { char: 'c', env: 'HACTL_RAFT_ADDR', default: '127.0.0.1:5010' },
  password: { env: 'HACTL_RAFT_PASSWORD' },
  timeout: { default: 5, min: 1 },
  raw: { exclusive: ['json'] },
} as const;

/** Flags taking a value, by every spelling oclif accepts for them that this parser handles. */
const VALUE_FLAGS: Record<string, 'connect' | 'password' | 'timeout'> = { [`-${FAST_FLAG_FACTS.connect.char}`]: 'connect', '--connect': 'connect', '--password': 'password', '--timeout': 'timeout' };
const BOOLEAN_FLAGS: Record<string, 'json' | 'raw'> = { '--json': 'json', '--raw': 'raw' };

/**
 * The flags of `raft status` from the arguments after the command words, with oclif's defaults
 * and environment variables (raft-flags.ts); null when oclif must decide (it would print help,
 * refuse the input, or print more than the command's own output).
 */
export function parseFastArgs(args: readonly string[], env: NodeJS.ProcessEnv): FastRaftStatusFlags | null {
  // oclif's debug output (the `debug` package) goes to stderr only on the oclif path.
  if (env.DEBUG) return null;
  const given = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const key = VALUE_FLAGS[name] ?? BOOLEAN_FLAGS[name];
    // Unknown words and flags, `--`, `-cVALUE`, `--json=…`, and a flag given twice (oclif
    // refuses that for these single-valued flags) are oclif's to report.
    if (key === undefined || given.has(key) || (eq > 0 && BOOLEAN_FLAGS[name] !== undefined)) return null;
    if (BOOLEAN_FLAGS[name] !== undefined) {
      given.set(key, true);
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
    // A missing value, an empty one, or one that looks like a flag: oclif's rules, oclif's message.
    if (value === undefined || value === '' || value.startsWith('-')) return null;
    given.set(key, value);
  }
  const json = given.get('json') === true;
  const raw = given.get('raw') === true;
  if (json && raw) return null; // `exclusive: ['json']` on --raw: oclif's error
  const timeoutText = given.get('timeout');
  // oclif's integer flag: /^-?\d+$/ and min 1; anything else is its error message.
  if (timeoutText !== undefined && (typeof timeoutText !== 'string' || !/^\d+$/.test(timeoutText) || Number.parseInt(timeoutText, 10) < FAST_FLAG_FACTS.timeout.min)) return null;
  const connect = given.get('connect');
  const password = given.get('password');
  return {
    // oclif takes a flag's environment variable only when it is non-empty (parser/parse.js).
    connect: typeof connect === 'string' ? connect : env[FAST_FLAG_FACTS.connect.env] || FAST_FLAG_FACTS.connect.default,
    password: typeof password === 'string' ? password : env[FAST_FLAG_FACTS.password.env] || undefined,
    timeout: timeoutText === undefined ? FAST_FLAG_FACTS.timeout.default : Number.parseInt(timeoutText, 10),
    json,
    raw,
  };
}

/** What src/commands/raft/status.ts prints for these flags; resolves with the exit code. */
export async function runFastRaftStatus(flags: FastRaftStatusFlags): Promise<number> {
  let status;
  try {
    status = await withAdminClient(flags.connect, { password: flags.password, timeoutMs: flags.timeout * 1000 }, (c) => c.status());
  } catch (err) {
    // failCommand's line and code (src/cli/errors.ts), which the oclif path prints.
    process.stderr.write(`Error: ${cliErrorMessage(err)}\n`);
    return 1;
  }
  const text = flags.json ? formatJson(status) : flags.raw ? formatKeyValueLines(status) : renderStatus(status);
  // oclif's Command.log: console.log of the one string, i.e. the text and a newline.
  process.stdout.write(`${text}\n`);
  return 0;
}

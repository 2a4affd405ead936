// One pg_basebackup run: WAL streamed alongside (-X stream) so the copy is consistent on its own, progress
// parsed from `--progress --verbose` and reported, the replication user's password from the pgpass file
// (never on the command line). Where the copy goes and what happens on failure is replica.ts's business.
import { BasebackupProgressParser, type BasebackupProgress } from './basebackup-progress.js';
import { buildConninfo } from './conf.js';
import { pgpassPathOf } from './context.js';
import { PostgresCommandFailed, PostgresConfigError } from './errors.js';
import { runPg } from './exec.js';
import type { CommandLineOptions, PgContext } from './types.js';
import { writePgpass } from './write-config.js';

/** A member to copy from: the leader, or a replica tagged clonefrom. */
export interface CloneSource {
  host: string;
  port: number;
  /** Member name, for messages. */
  name?: string;
}

/**
 * Options that hactl sets itself and a user may not override: the target, the format and WAL method (a plain
 * copy with streamed WAL is what a replica needs), the connection, and the progress output we parse.
 */
const BASEBACKUP_RESERVED = new Set([
  'pgdata', 'D', 'format', 'F', 'wal-method', 'X', 'xlog-method', 'dbname', 'd', 'host', 'h', 'port', 'p',
  'username', 'U', 'progress', 'P', 'verbose', 'v', 'write-recovery-conf', 'R', 'no-password', 'w', 'password', 'W',
]);

/**
 * `[flag, {key: value}, ...]` or `{key: value}` → `--flag --key=value`, Patroni's convention for initdb,
 * basebackup and rewind options. Keys may be written with or without leading dashes. Reserved keys throw.
 */
export function commandLineArgs(options: CommandLineOptions | undefined, reserved: ReadonlySet<string>, what: string): string[] {
  if (options === undefined) return [];
  const items = Array.isArray(options) ? options : Object.entries(options).map(([k, v]) => ({ [k]: v }));
  const args: string[] = [];
  const check = (key: string) => {
    const bare = key.replace(/^-+/, '');
    if (bare === '' || /\s/.test(bare)) throw new PostgresConfigError(`${what}: ${JSON.stringify(key)} is not an option name`);
    if (reserved.has(bare)) throw new PostgresConfigError(`${what}: option ${bare} is set by hactl and cannot be overridden`);
    return bare;
  };
  for (const item of items) {
    if (typeof item === 'string') {
      args.push(`--${check(item)}`);
      continue;
    }
    const entries = Object.entries(item);
    if (entries.length !== 1) throw new PostgresConfigError(`${what}: each map item must have exactly one key, got ${JSON.stringify(item)}`);
    const [key, value] = entries[0]!;
    const bare = check(key);
    if (value === true) args.push(`--${bare}`);
    else if (value === false) continue;
    else args.push(`--${bare}=${String(value)}`);
  }
  return args;
}

/**
 * Flags hactl passes anyway (its progress parser reads their output): a config that asks for them too,
 * as Patroni's example postgres1.yml does with `- verbose`, gets them once. Patroni allows them.
 */
const ALREADY_PASSED = new Set(['verbose', 'v', 'progress', 'P']);

function withoutAlreadyPassed(options: CommandLineOptions | undefined): CommandLineOptions | undefined {
  if (options === undefined) return undefined;
  const flag = (key: string) => ALREADY_PASSED.has(key.replace(/^-+/, ''));
  if (!Array.isArray(options)) return Object.fromEntries(Object.entries(options).filter(([k, v]) => !(flag(k) && v === true)));
  return options.filter((item) => (typeof item === 'string' ? !flag(item) : !Object.entries(item).every(([k, v]) => flag(k) && v === true)));
}

export function basebackupArgs(options: CommandLineOptions | undefined): string[] {
  const args = commandLineArgs(withoutAlreadyPassed(options), BASEBACKUP_RESERVED, 'postgresql.basebackup');
  // A fast checkpoint unless the config asks otherwise: Patroni's default spread checkpoint made a
  // clone right after a bulk load wait checkpoint_timeout × completion_target (270 s vs 0.9 s here).
  return args.some((a) => a.startsWith('--checkpoint')) ? args : ['--checkpoint=fast', ...args];
}

/** The conninfo pg_basebackup and custom replica methods use to reach `source` as the replication user. */
export function replicationConninfo(ctx: PgContext, source: CloneSource, applicationName: string): string {
  const repl = ctx.options.authentication.replication;
  return buildConninfo({
    host: source.host,
    port: source.port,
    user: repl.username,
    dbname: 'postgres',
    sslmode: repl.sslmode,
    sslrootcert: repl.sslrootcert,
    sslcert: repl.sslcert,
    sslkey: repl.sslkey,
    channel_binding: repl.channel_binding,
    gssencmode: repl.gssencmode,
    application_name: applicationName,
    connect_timeout: 10,
  });
}

export interface BasebackupRunOptions {
  source: CloneSource;
  /** An empty directory owned by the OS user (or a missing one whose parent it may write). */
  targetDir: string;
  onProgress?: (progress: BasebackupProgress) => void;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Runs pg_basebackup into `targetDir`. Throws PostgresCommandFailed (with pg_basebackup's messages) on failure. */
export async function runBasebackup(ctx: PgContext, run: BasebackupRunOptions): Promise<BasebackupProgress> {
  const userArgs = basebackupArgs(ctx.options.basebackup);
  await writePgpass(ctx);
  const parser = new BasebackupProgressParser(run.onProgress);
  const args = [
    '-D', run.targetDir,
    '-X', 'stream',
    '--progress',
    '--verbose',
    '--no-password',
    '-d', replicationConninfo(ctx, run.source, `${ctx.options.name}_basebackup`),
    ...userArgs,
  ];
  const secrets = [ctx.options.authentication.replication.password ?? ''];
  try {
    await runPg(ctx, 'pg_basebackup', args, {
      env: { PGPASSFILE: pgpassPathOf(ctx.options), LC_ALL: 'C', LANG: 'C' },
      onStderrLine: (line) => parser.push(`${line}\n`),
      timeoutMs: run.timeoutMs,
      signal: run.signal,
      secrets,
    });
  } catch (err) {
    if (!(err instanceof PostgresCommandFailed)) throw err;
    parser.end();
    throw new PostgresCommandFailed({
      command: err.command,
      exitCode: err.exitCode,
      signal: err.signal,
      timedOut: err.timedOut,
      timeoutMs: run.timeoutMs,
      stderr: errorsLast(parser.messageText),
      secrets,
    });
  }
  parser.end();
  return parser.progress;
}

/**
 * pg_basebackup's last words after a failure are its clean-up ("removing contents of data directory ...") or,
 * when its WAL-streaming child failed first, "child process exited with exit code 1"; the cause is an earlier
 * `error:` line. Order the lines so the most specific cause comes last and the one-line message names it.
 */
export function errorsLast(messages: string): string {
  const lines = messages.split('\n').filter((l) => l.trim() !== '');
  const rank = (l: string): number => {
    if (/removing (contents of )?data directory|changes to tablespace directories will not be undone/.test(l)) return 0;
    if (/child process exited|background process terminated|could not wait for child/.test(l)) return 1;
    if (/No space left|FATAL:|error:|could not /i.test(l)) return 2;
    return 0;
  };
  return lines
    .map((line, i) => ({ line, i, r: rank(line) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.line)
    .join('\n');
}

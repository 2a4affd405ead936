// Typed errors of the PostgreSQL layer. Every message is one line a human understands; details an operator
// needs (command, exit code, stderr tail) are fields too, so the agent can log them structured.

export class PostgresError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

const STDERR_TAIL_LINES = 20;

/** The last `lines` non-empty lines of a command's output. */
export function tailLines(text: string, lines = STDERR_TAIL_LINES): string {
  const all = text.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
  return all.slice(-lines).join('\n');
}

/** Replaces every secret (password) in text by `***`. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret) out = out.split(secret).join('***');
  }
  return out;
}

/** A PostgreSQL binary (or hook command) exited non-zero, was killed, or timed out. */
export class PostgresCommandFailed extends PostgresError {
  readonly command: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stderrTail: string;
  readonly timedOut: boolean;

  constructor(args: {
    command: string;
    exitCode: number | null;
    signal?: string | null;
    stderr: string;
    timedOut?: boolean;
    timeoutMs?: number;
    secrets?: readonly string[];
  }) {
    const command = redact(args.command, args.secrets);
    const stderrTail = redact(tailLines(args.stderr), args.secrets);
    const how = args.timedOut
      ? `timed out after ${args.timeoutMs ?? '?'} ms`
      : args.signal
        ? `was killed by ${args.signal}`
        : `exited with code ${args.exitCode}`;
    // The line that says why: PostgreSQL's last FATAL or PANIC (a failed start ends its log with "database
    // system is shut down", which the reason precedes), else the last line.
    const lines = stderrTail.split('\n');
    const last = [...lines].reverse().find((l) => /\b(FATAL|PANIC): /.test(l)) ?? lines.at(-1) ?? '';
    super(`command \`${command}\` ${how}${last ? `: ${last}` : ''}`);
    this.command = command;
    this.exitCode = args.exitCode;
    this.signal = args.signal ?? null;
    this.stderrTail = stderrTail;
    this.timedOut = args.timedOut ?? false;
  }
}

export class BinariesNotFound extends PostgresError {
  readonly searched: string[];
  constructor(searched: string[], missing: string[] = ['pg_ctl', 'postgres'], configured = false) {
    super(
      configured
        ? `postgresql.bin_dir ${searched[0]} does not contain ${missing.join(', ')}`
        : `PostgreSQL binaries (${missing.join(', ')}) not found; looked in: ${searched.join(', ') || '(nowhere)'}; set postgresql.bin_dir`,
    );
    this.searched = searched;
  }
}

export class OsUserMissing extends PostgresError {
  readonly username: string;
  constructor(username: string) {
    super(
      `OS user "${username}" does not exist; PostgreSQL cannot run as root, so create that user or set postgresql.osUser to an existing unprivileged user`,
    );
    this.username = username;
  }
}

/** The data directory cannot be used: owned by another user, wrong permissions, not a directory, wrong version. */
export class DataDirError extends PostgresError {
  readonly dataDir: string;
  constructor(dataDir: string, problem: string) {
    super(`data directory ${dataDir}: ${problem}`);
    this.dataDir = dataDir;
  }
}

export class PortInUse extends PostgresError {
  readonly host: string;
  readonly port: number;
  constructor(host: string, port: number) {
    super(`port ${port} on ${host} is already in use by another process; PostgreSQL cannot listen there`);
    this.host = host;
    this.port = port;
  }
}

/** The server did not become ready (accept connections) in time. */
export class PostgresNotReady extends PostgresError {
  constructor(what: string, timeoutMs: number, lastError?: string) {
    super(`${what} did not accept connections within ${timeoutMs} ms${lastError ? ` (last error: ${lastError})` : ''}`);
  }
}

/** An operation that needs a running server found none (or one that needs it stopped found it running). */
export class PostgresStateError extends PostgresError {}

/** Configuration that cannot be turned into PostgreSQL settings (bad parameter name, listen address, ...). */
export class PostgresConfigError extends PostgresError {}

/**
 * The server is up but refused our connection (SQLSTATE class 28: no pg_hba entry, wrong password, peer
 * failure, unknown role). Waiting does not help, so callers that wait for readiness stop at once; the
 * message carries PostgreSQL's own text and what to change.
 */
export class PostgresAuthRejected extends PostgresError {
  constructor(
    /** PostgreSQL's error text, e.g. `no pg_hba.conf entry for host "[local]", user "postgres", database "postgres", no encryption`. */
    readonly serverMessage: string,
    /** What to change, naming the configuration key. */
    readonly hint: string,
    /** Where we connected: `127.0.0.1:5432` or the socket directory. */
    readonly target: string,
  ) {
    super(`PostgreSQL at ${target} refused hactl's connection: ${serverMessage}; ${hint}`);
  }
}

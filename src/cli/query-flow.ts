/**
 * `hactl query` (patronictl query): run SQL on the member a role or a name picks, print the result
 * as tsv (the default, patronictl's), pretty, json or yaml, once or every few seconds.
 *
 * As patronictl: the leader by default; `-r primary|replica|standby-leader` is checked on the server
 * itself (pg_is_in_recovery), since the cluster view can be a cycle old; a member that cannot be used
 * and an SQL error are printed as a row `<time>  ERROR, SQLSTATE: <code>`. hactl deviation: outside
 * --watch such a row also ends the command with exit 1 and the server's message on stderr, so a
 * script notices (patronictl exits 0).
 */
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import type { ClusterMember } from '../client/index.js';
import type { ClusterCommand, ConnectionFlagValues } from './cluster-command.js';
import { matchesRole, type RoleFilter } from './member-select.js';
import { normalizeFormat, serialize, type OutputFormat } from './output.js';
import { parseSeconds } from './cluster-flags.js';
import { renderTable } from './table.js';

export interface QueryFlags extends ConnectionFlagValues {
  command?: string;
  file?: string;
  member?: string;
  role?: string;
  username?: string;
  password: boolean;
  dbname?: string;
  format?: string;
  delimiter: string;
  watch?: string;
  'watch-every'?: string;
}

/** One answer: column names (none for an error row) and rows of text cells (null is SQL NULL). */
export interface QueryResult {
  columns: string[] | null;
  rows: Array<Array<string | null>>;
  /** The failure behind an error row, for stderr and the exit code. */
  error?: string;
}

export function formatQueryResult(result: QueryResult, format: OutputFormat, delimiter: string): Promise<string> | string {
  const { columns, rows } = result;
  if (format === 'json' || format === 'yaml') {
    // patronictl keeps every column, NULLs included, when there is no table header.
    const records = rows.map((r) => Object.fromEntries((columns ?? r.map((_, i) => String(i))).map((c, i) => [c, r[i] ?? null])));
    return serialize(records, format);
  }
  if (format === 'tsv') {
    return [...(columns ? [columns] : []), ...rows].map((r) => r.map((c) => c ?? '').join(delimiter)).join('\n');
  }
  const head = columns ?? (rows[0] ?? []).map(() => '');
  return renderTable<Array<string | null>>(head.map((h, i) => ({ header: h, value: (r) => r[i] ?? '' })), rows, { border: 'ascii' });
}

/** `YYYY-MM-DD HH:MM:SS` local time, patronictl's timestamp(0) in error rows. */
function stamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

const errorRow = (message: string, error: string): QueryResult => ({ columns: null, rows: [[stamp(), message]], error });

/** Validated inputs: what to run, where, as whom. Throws with patronictl's words on a bad combination. */
export function queryPlan(flags: QueryFlags): { sql: string; role: RoleFilter; member: string | null } {
  if (flags.member !== undefined && flags.role !== undefined) throw new Error('--role and --member are mutually exclusive options');
  if (flags.file !== undefined && flags.command !== undefined) throw new Error('--file and --command are mutually exclusive options');
  if (flags.file === undefined && flags.command === undefined) throw new Error('You need to specify either --command or --file');
  let sql = flags.command ?? '';
  if (flags.file !== undefined) {
    try {
      sql = flags.file === '-' ? readFileSync(0, 'utf8') : readFileSync(flags.file, 'utf8');
    } catch (err) {
      throw new Error(`--file ${flags.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const role = (flags.member !== undefined ? 'any' : (flags.role ?? 'leader')) as RoleFilter;
  return { sql, role, member: flags.member ?? null };
}

/** The first member matching, leader first (patronictl's get_any_member), that has a PostgreSQL address. */
export function pickQueryMember(members: ClusterMember[], role: RoleFilter, name: string | null): ClusterMember | null {
  const leaderFirst = [...members].sort((a, b) => Number(b.role === 'leader' || b.role === 'standby_leader') - Number(a.role === 'leader' || a.role === 'standby_leader'));
  return leaderFirst.find((m) => (name === null || m.name === name) && matchesRole(m, role) && m.host) ?? null;
}

/**
 * The password for --password: asked on a terminal without echo, else the first line of stdin (as
 * click's prompt reads it under patronictl); it only ever goes to the PostgreSQL connection.
 */
async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) {
    const { password } = await import('./prompt-library.js');
    return password({ message: 'Password', mask: false });
  }
  return readFileSync(0, 'utf8').split('\n')[0] ?? '';
}

/** Ends a connection we no longer use; an error while closing changes nothing for the answer. */
async function close(c: pg.Client | null): Promise<void> {
  await c?.end().catch(() => undefined);
}

export async function runQuery(cmd: ClusterCommand, flags: QueryFlags, clusterName: string | undefined): Promise<void> {
  let plan: ReturnType<typeof queryPlan>;
  let watchSeconds: number | undefined;
  try {
    plan = queryPlan(flags);
    watchSeconds = flags['watch-every'] !== undefined ? parseSeconds(flags['watch-every'], 'watch-every') : parseSeconds(flags.watch, 'watch');
  } catch (err) {
    return cmd.fail(err);
  }
  const password = flags.password ? await readPassword() : undefined;
  const format = normalizeFormat(flags.format ?? 'tsv');
  const client = await cmd.connect(flags);
  const { default: pgModule } = await import('pg');
  let conn: pg.Client | null = null;

  const none = plan.member !== null ? `No connection to member ${plan.member} is available` : `No connection to role=${plan.role} is available`;
  /** Agent errors (none reachable, 401) end the command; PostgreSQL's become an error row. */
  const chooseMember = async (): Promise<ClusterMember | null> => {
    const snap = await client.cluster();
    cmd.checkClusterName(clusterName, snap.cluster.scope);
    cmd.warnUnreachable();
    return pickQueryMember(snap.cluster.members, plan.role, plan.member);
  };

  const connectTo = async (m: ClusterMember): Promise<pg.Client | QueryResult> => {
    const c = new pgModule.Client({
      host: m.host,
      port: m.port ?? 5432,
      user: flags.username,
      password,
      database: flags.dbname,
      application_name: 'hactl query',
      connectionTimeoutMillis: 5000,
      // Every value as PostgreSQL's text (psql's view), not JavaScript's idea of a date or a number.
      types: { getTypeParser: () => (value: string) => value },
    });
    c.on('error', () => {
      // A dropped connection surfaces on the next query, which reconnects.
    });
    await c.connect().catch(async (err: unknown) => {
      await close(c);
      throw err;
    });
    if (plan.role === 'primary' || plan.role === 'replica' || plan.role === 'standby' || plan.role === 'standby-leader') {
      const inRecovery = (await c.query<{ r: string }>('SELECT pg_catalog.pg_is_in_recovery() AS r')).rows[0]?.r === 't';
      if (inRecovery === (plan.role === 'primary')) {
        await close(c);
        return errorRow(none, `${none}: ${m.name} is ${inRecovery ? 'in recovery' : 'not in recovery'}`);
      }
    }
    return c;
  };

  const once = async (): Promise<QueryResult> => {
    // patronictl keeps its cursor between watch rounds and reads the cluster again only after losing it.
    const m = conn ? null : await chooseMember();
    if (!conn && !m) return errorRow(none, none);
    try {
      if (!conn) {
        const got = await connectTo(m!);
        if (!(got instanceof pgModule.Client)) return got;
        conn = got;
      }
      const res = await conn.query({ text: plan.sql, rowMode: 'array' });
      // A multi-statement text answers one result per statement: show the last, as psycopg's cursor does.
      const last = Array.isArray(res) ? (res[res.length - 1] as pg.QueryArrayResult) : (res as pg.QueryArrayResult);
      if (!last?.fields?.length) return { columns: null, rows: [] };
      return { columns: last.fields.map((f) => f.name), rows: last.rows as Array<Array<string | null>> };
    } catch (err) {
      const old = conn;
      conn = null;
      await close(old);
      const e = err as { code?: string; message?: string };
      // The server's SQLSTATE when it answered; otherwise the connection error's text (patronictl's str(e)).
      const sqlstate = e.code && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : (e.message ?? String(err)).replace(/\n/g, ' ');
      return errorRow(`ERROR, SQLSTATE: ${sqlstate}`, e.message ?? String(err));
    }
  };

  try {
    if (watchSeconds === undefined) {
      const result = await once();
      cmd.log(await formatQueryResult(result, format, flags.delimiter));
      if (result.error) throw new Error(result.error);
      return;
    }
    const { runWatch } = await import('./watch.js');
    // patronictl does not clear the screen between query rounds: the answers pile up.
    await runWatch(watchSeconds, async () => formatQueryResult(await once(), format, flags.delimiter), {
      write: (t) => process.stdout.write(t),
      isTTY: false,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    });
  } catch (err) {
    cmd.fail(err);
  } finally {
    await close(conn);
  }
}

/**
 * `hactl failover --dry-run` / `switchover --dry-run`: the agent's failover explanation (GET
 * /failover/candidates) as a summary line and one row per member — who would take the leader key
 * and, for every other member, why not. json/yaml print the agent's body as it is.
 */
import type { ChalkInstance } from 'chalk';
import type { FailoverCandidateMember, FailoverCandidatesJson } from '../client/index.js';
import { makeColors } from './colors.js';
import { renderTsv, type OutputFormat, type OutputRecord, type Rendered } from './output.js';
import { renderTable } from './table.js';

const COLUMNS = ['Member', 'Role', 'State', 'LSN', 'Lag in MB', 'TL', 'Priority', 'Verdict', 'Reason'];

function verdictText(m: FailoverCandidateMember): string {
  return m.verdict === 'excluded' ? (m.code ?? 'excluded') : m.verdict;
}

export function explanationRecords(body: FailoverCandidatesJson): OutputRecord[] {
  return body.members.map((m) => ({
    Member: m.name,
    Role: m.role,
    State: m.reachable ? m.state : 'unreachable',
    LSN: m.lsn_text ?? '',
    'Lag in MB': m.lag === null ? 'unknown' : Math.round(m.lag / 1048576),
    TL: m.timeline ?? '',
    Priority: m.failover_priority,
    Verdict: verdictText(m),
    Reason: m.reason ?? '',
  }));
}

/** The lines above the table: the summary, a refusal the request would meet, what it assumes. */
export function explanationHeader(body: FailoverCandidatesJson): string[] {
  const lines = [`Dry run (nothing changed): ${body.summary}`];
  if (body.refusal) lines.push(`The agent would refuse the request: ${body.refusal.status} ${body.refusal.text}`);
  const lag = `maximum_lag_on_failover ${body.maximum_lag_on_failover} bytes`;
  const sync = body.synchronous_mode === 'off' ? '' : `, synchronous_mode ${body.synchronous_mode}`;
  lines.push(`As seen by ${body.answered_by}: ${lag}${sync}${body.pause ? ', cluster paused' : ''}`);
  return lines;
}

export function renderExplanation(body: FailoverCandidatesJson, opts: { format: OutputFormat; colors?: ChalkInstance }): Rendered {
  if (opts.format === 'json' || opts.format === 'yaml') return { data: body, format: opts.format };
  const records = explanationRecords(body);
  if (opts.format === 'tsv') return { text: renderTsv(COLUMNS, records) };
  const colors = opts.colors ?? makeColors();
  const table = renderTable(
    COLUMNS.map((header) => ({
      header,
      align: header === 'Lag in MB' || header === 'TL' || header === 'Priority' ? ('right' as const) : ('left' as const),
      value: (r: OutputRecord) => r[header] as string | number,
      color:
        header === 'Verdict'
          ? (text: string, _r: OutputRecord, c: ChalkInstance) => (text === 'winner' ? c.green(text) : text === 'races' ? c.yellow(text) : c.red(text))
          : undefined,
    })),
    records,
    { colors, border: 'ascii' },
  );
  return { text: [...explanationHeader(body), table].join('\n') };
}

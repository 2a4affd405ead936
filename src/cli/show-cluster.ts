/**
 * The list/topology flow shared by several commands: fetch /cluster, check the name, render in the
 * chosen format, once or under --watch. Switchover, restart and reinit print the same table before
 * asking (patronictl shows the topology first).
 */
import type { ClusterSnapshot } from '../client/index.js';
import type { ClusterCommand, ConnectionFlagValues } from './cluster-command.js';
import { renderCluster } from './cluster-table.js';
import { normalizeFormat, renderedText } from './output.js';
import { parseSeconds } from './cluster-flags.js';

export interface ShowFlags extends ConnectionFlagValues {
  format?: string;
  extended?: boolean;
  watch?: string;
  'watch-every'?: string;
  timestamp?: boolean;
}

/** patronictl's timestamp line: local time, `YYYY-MM-DD HH:MM:SS`. */
export function timestampLine(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export async function showCluster(cmd: ClusterCommand, flags: ShowFlags, opts: { cluster?: string; topology: boolean }): Promise<void> {
  const client = await cmd.connect(flags);
  const colors = cmd.colors(flags);
  const format = normalizeFormat(flags.format);
  const frame = async (): Promise<string> => {
    const snap = await client.cluster();
    cmd.checkClusterName(opts.cluster, snap.cluster.scope);
    const text = await renderedText(renderCluster(snap, { format, extended: flags.extended, topology: opts.topology, colors }));
    return flags.timestamp ? `${timestampLine(new Date())}\n${text}` : text;
  };
  let watchSeconds: number | undefined;
  try {
    watchSeconds = flags['watch-every'] !== undefined ? parseSeconds(flags['watch-every'], 'watch-every') : parseSeconds(flags.watch, 'watch');
  } catch (err) {
    cmd.fail(err);
  }
  if (watchSeconds === undefined) {
    const text = await frame().catch((err: unknown) => cmd.fail(err));
    cmd.warnUnreachable();
    cmd.log(text);
    return;
  }
  const { runWatch } = await import('./watch.js');
  await runWatch(watchSeconds, async () => {
    const text = await frame();
    const warnings = client.unreachable.map((u) => `Warning: agent ${u.url} unreachable: ${u.reason}`);
    return [text, ...warnings].join('\n');
  }, {
    write: (t) => process.stdout.write(t),
    isTTY: process.stdout.isTTY === true,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  });
}

/** The current table in pretty form, for commands that show it before acting (never fails the command). */
export function prettyCluster(cmd: ClusterCommand, snap: ClusterSnapshot, flags: { color?: boolean }): string {
  const r = renderCluster(snap, { format: 'pretty', colors: cmd.colors(flags) });
  return 'text' in r ? r.text : '';
}

// pg_controldata: what a stopped server's control file says (cluster state, checkpoint, timeline, system
// identifier, minimum recovery point). Run with LC_ALL=C: the labels are translated otherwise.
import { PostgresError } from './errors.js';
import { runPg } from './exec.js';
import { parseLsnOrNull } from './lsn.js';
import type { PgContext } from './types.js';

export interface ControlData {
  /** e.g. `shut down`, `shut down in recovery`, `in production`, `in archive recovery`, `in crash recovery`. */
  clusterState: string;
  /** Database system identifier: a 64-bit number, kept as a decimal string. */
  systemIdentifier: string;
  checkpointLsn: bigint | null;
  redoLsn: bigint | null;
  /** Latest checkpoint's TimeLineID. */
  timeline: number;
  prevTimeline: number;
  /** Minimum recovery ending location (0/0 when none) and its timeline. */
  minRecoveryEndLsn: bigint | null;
  minRecoveryEndTimeline: number;
  walLevel: string | null;
  walLogHints: boolean;
  /** 0 = checksums off. */
  dataChecksumVersion: number;
  /** Every `label: value` line, for fields without a typed accessor. */
  raw: Record<string, string>;
}

/** Parses pg_controldata's output (C locale). */
export function parseControlData(text: string): ControlData {
  const raw: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const idx = line.indexOf(':');
    if (idx <= 0) continue;
    raw[line.slice(0, idx).trim()] = line.slice(idx + 1).trim();
  }
  const need = (label: string) => {
    const value = raw[label];
    if (value === undefined) throw new PostgresError(`pg_controldata output lacks "${label}"`);
    return value;
  };
  const int = (label: string, fallback = 0) => {
    const value = raw[label];
    return value === undefined ? fallback : Number(value);
  };
  return {
    clusterState: need('Database cluster state'),
    systemIdentifier: need('Database system identifier'),
    checkpointLsn: parseLsnOrNull(raw['Latest checkpoint location']),
    redoLsn: parseLsnOrNull(raw["Latest checkpoint's REDO location"]),
    timeline: Number(need("Latest checkpoint's TimeLineID")),
    prevTimeline: int("Latest checkpoint's PrevTimeLineID"),
    minRecoveryEndLsn: parseLsnOrNull(raw['Minimum recovery ending location']),
    minRecoveryEndTimeline: int("Min recovery ending loc's timeline"),
    walLevel: raw['wal_level setting'] ?? null,
    walLogHints: raw['wal_log_hints setting'] === 'on',
    dataChecksumVersion: int('Data page checksum version'),
    raw,
  };
}

/** True when the control file says the server was shut down cleanly (as primary or as standby). */
export function isCleanShutdown(data: ControlData): boolean {
  return data.clusterState === 'shut down' || data.clusterState === 'shut down in recovery';
}

export async function readControlData(ctx: PgContext): Promise<ControlData> {
  const { stdout } = await runPg(ctx, 'pg_controldata', ['-D', ctx.options.data_dir], {
    env: { LC_ALL: 'C', LANG: 'C', LANGUAGE: undefined },
    timeoutMs: 15_000,
  });
  return parseControlData(stdout);
}

/**
 * The reinit --wait progress line: a bar of the base backup (done/total, rate, ETA) when the agent
 * reports it, else the member's state and the time waited. Pure; the caller redraws it.
 */

export interface BasebackupReport {
  phase?: string;
  done_bytes?: number;
  total_bytes?: number;
}

export interface ProgressInput {
  member: string;
  state: string;
  elapsedMs: number;
  basebackup?: BasebackupReport | null;
  /** Bytes per second measured by the caller over the last samples; null when unknown. */
  rateBytesPerSecond?: number | null;
}

const MB = 1024 * 1024;

export function renderProgress(p: ProgressInput, width = 30): string {
  const waited = `${Math.round(p.elapsedMs / 1000)} s`;
  const bb = p.basebackup;
  if (!bb || typeof bb.done_bytes !== 'number' || typeof bb.total_bytes !== 'number' || bb.total_bytes <= 0) {
    return `${p.member}: ${p.state || 'unknown'} (${waited})`;
  }
  const ratio = Math.min(1, bb.done_bytes / bb.total_bytes);
  const filled = Math.round(ratio * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  const rate = p.rateBytesPerSecond && p.rateBytesPerSecond > 0 ? p.rateBytesPerSecond : null;
  const eta = rate ? `ETA ${Math.max(0, Math.ceil((bb.total_bytes - bb.done_bytes) / rate))} s` : 'ETA ?';
  const phase = bb.phase && bb.phase !== 'copying' ? ` ${bb.phase}` : '';
  return (
    `${p.member}: ${bar} ${(bb.done_bytes / MB).toFixed(1)}/${(bb.total_bytes / MB).toFixed(1)} MB ${Math.floor(ratio * 100)}%` +
    ` ${rate ? `${(rate / MB).toFixed(1)} MB/s` : '? MB/s'} ${eta}${phase} (${waited})`
  );
}

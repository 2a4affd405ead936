/**
 * The `fence:` section of the config file as the agent uses it. Default on: a primary never runs
 * without a fence unless the operator wrote `fence: {mode: off}`.
 */
import path from 'node:path';
import type { HactlConfig } from '../../config/index.js';
import { DEFAULT_FENCE_SAFETY_MARGIN_MS } from './deadline.js';

export interface FenceSettings {
  mode: 'on' | 'off';
  safetyMarginMs: number;
  /** Where the fence writes its record after a kill (outside the data directory: a reinit removes that). */
  recordFile: string;
  /** The fence's own log (its lines also go to the agent's log while the agent lives). */
  logFile: string;
  pidFile: string;
  /** How long an orphaned fence keeps killing a primary that comes back after it fired (pg_ctl_timeout). */
  trippedWatchMs: number;
}

/** `/var/lib/postgresql/15/main` → `/var/lib/postgresql/15/main.fenced.json` (and `.fence.log`, `.fence.pid`). */
export function fenceSettings(config: HactlConfig): FenceSettings {
  const section: NonNullable<HactlConfig['fence']> | Partial<NonNullable<HactlConfig['fence']>> = config.fence ?? {};
  const dataDir = path.resolve(config.postgresql.data_dir);
  const recordFile = section.record_file ? path.resolve(section.record_file) : `${dataDir}.fenced.json`;
  return {
    mode: section.mode ?? 'on',
    safetyMarginMs: section.safety_margin === undefined ? DEFAULT_FENCE_SAFETY_MARGIN_MS : section.safety_margin * 1000,
    recordFile,
    logFile: `${dataDir}.fence.log`,
    pidFile: `${dataDir}.fence.pid`,
    trippedWatchMs: (config.postgresql.pg_ctl_timeout ?? 60) * 1000,
  };
}

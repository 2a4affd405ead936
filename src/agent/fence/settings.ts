/**
 * The `fence:` section of the config file as the agent uses it. Default on: a primary never runs
 * without a fence unless the operator wrote `fence: {mode: off}`.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HactlConfig } from '../../config/index.js';
import { agentUids, whyNotPrivate } from '../../postgres/index.js';
import { DEFAULT_FENCE_SAFETY_MARGIN_MS } from './deadline.js';

export interface FenceSettings {
  mode: 'on' | 'off';
  safetyMarginMs: number;
  /**
   * The fence's directory (`fence.dir`): private to root and the agent's user, checked at start. Not beside
   * the data directory, whose parent the PostgreSQL user can usually write (issue 14).
   */
  dir?: string;
  /** Where the fence writes its record after a kill (outside the data directory: a reinit removes that). */
  recordFile: string;
  /** The fence's own log (its lines also go to the agent's log while the agent lives). */
  logFile: string;
  pidFile: string;
  /** How long an orphaned fence keeps killing a primary that comes back after it fired (pg_ctl_timeout). */
  trippedWatchMs: number;
  /** `fence.on_agent_death` (issue 17): `wait` for the deadline while PostgreSQL runs, or `kill` it and release at once. */
  onAgentDeath?: 'wait' | 'kill';
}

/**
 * Default `fence.dir`: under systemd's StateDirectory= when the unit has one (examples/hactl.service), else
 * /run/hactl for root, else the user's runtime or state directory; then `fence/<data dir name>-<hash of its
 * path>`, one per data directory so two agents on a host never share (and retire) each other's fence.
 */
export function defaultFenceDir(dataDir: string): string {
  const resolved = path.resolve(dataDir);
  const base =
    process.env.STATE_DIRECTORY?.split(':')[0] ||
    ((process.getuid?.() ?? 0) === 0 ? '/run/hactl' : process.env.XDG_RUNTIME_DIR ? path.join(process.env.XDG_RUNTIME_DIR, 'hactl') : path.join(os.homedir(), '.local', 'state', 'hactl'));
  const hash = createHash('sha256').update(resolved).digest('hex').slice(0, 8);
  return path.join(base, 'fence', `${path.basename(resolved)}-${hash}`);
}

export function fenceSettings(config: HactlConfig): FenceSettings {
  const section: NonNullable<HactlConfig['fence']> | Partial<NonNullable<HactlConfig['fence']>> = config.fence ?? {};
  const dir = section.dir ? path.resolve(section.dir) : defaultFenceDir(config.postgresql.data_dir);
  return {
    mode: section.mode ?? 'on',
    safetyMarginMs: section.safety_margin === undefined ? DEFAULT_FENCE_SAFETY_MARGIN_MS : section.safety_margin * 1000,
    dir,
    recordFile: section.record_file ? path.resolve(section.record_file) : path.join(dir, 'fenced.json'),
    logFile: path.join(dir, 'fence.log'),
    pidFile: path.join(dir, 'fence.pid'),
    trippedWatchMs: (config.postgresql.pg_ctl_timeout ?? 60) * 1000,
    onAgentDeath: section.on_agent_death ?? 'wait',
  };
}

/**
 * Creates the fence's directories (0700) and checks that only root and the agent's user can change
 * anything in them or on the way to them; returns why not (naming the config key), or null. A root fence
 * writing where the PostgreSQL user can plant links could be made to overwrite any file, and a record
 * someone else wrote would make a healthy primary step down.
 */
export async function prepareFenceDir(settings: FenceSettings): Promise<string | null> {
  const dirs = new Map<string, string>();
  for (const file of [settings.pidFile, settings.logFile]) dirs.set(path.dirname(file), 'fence.dir');
  if (!dirs.has(path.dirname(settings.recordFile))) dirs.set(path.dirname(settings.recordFile), 'fence.record_file');
  for (const [dir, key] of dirs) {
    try {
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      return `${key}: cannot create ${dir}: ${(err as Error).message}`;
    }
    const why = await whyNotPrivate(dir, agentUids());
    if (why) return `${key} ${dir} is not private to root and the agent's user: ${why}`;
  }
  return null;
}

/**
 * Watchdog settings and Patroni's timing arithmetic. The timeout must expire before the leader key
 * can: timeout = ttl - safety_margin (or ttl/2 with safety_margin -1), and the leader must be able
 * to feed it at least once per loop: timing slack = timeout - loop_wait >= 0.
 */
import { DEFAULT_WATCHDOG_DEVICE } from './device.js';

export type WatchdogMode = 'off' | 'automatic' | 'required';
/** `testing` = Patroni's hidden driver: any path (FIFO, file) with an emulated ioctl. */
export type WatchdogDriver = 'default' | 'testing';

export interface WatchdogSettings {
  mode: WatchdogMode;
  device: string;
  driver: WatchdogDriver;
  /** -1 means ttl/2. */
  safetyMarginSeconds: number;
  /** From the dynamic config (the cluster `config` key), not the local file: see Patroni #2470. */
  ttlSeconds: number;
  loopWaitSeconds: number;
}

export interface WatchdogTiming {
  timeoutSeconds: number;
  slackSeconds: number;
}

export function watchdogTiming(s: Pick<WatchdogSettings, 'ttlSeconds' | 'loopWaitSeconds' | 'safetyMarginSeconds'>): WatchdogTiming {
  // Rounded down: the driver takes whole seconds, and shorter is the safe direction.
  const timeoutSeconds = s.safetyMarginSeconds === -1 ? Math.floor(s.ttlSeconds / 2) : Math.floor(s.ttlSeconds - s.safetyMarginSeconds);
  return { timeoutSeconds, slackSeconds: timeoutSeconds - s.loopWaitSeconds };
}

/** Patroni's parse_mode: false/off/disable(d) -> off, auto -> automatic, require -> required; anything else is off. */
export function parseWatchdogMode(value: unknown): { mode: WatchdogMode; warning: string | null } {
  if (value === undefined || value === null) return { mode: 'automatic', warning: null };
  if (value === false) return { mode: 'off', warning: null };
  const m = String(value).toLowerCase();
  if (m === 'require' || m === 'required') return { mode: 'required', warning: null };
  if (m === 'auto' || m === 'automatic') return { mode: 'automatic', warning: null };
  if (['off', 'disable', 'disabled', 'false'].includes(m)) return { mode: 'off', warning: null };
  return { mode: 'off', warning: `Watchdog mode ${String(value)} not recognized, disabling watchdog` };
}

/** The `watchdog:` section as loaded by src/config (mode already normalised there; driver passes through). */
export interface WatchdogSection {
  mode?: unknown;
  device?: string;
  safety_margin?: number;
  driver?: unknown;
}

export function watchdogSettings(section: WatchdogSection, dynamic: { ttl: number; loop_wait: number }): WatchdogSettings {
  return {
    mode: parseWatchdogMode(section.mode).mode,
    device: section.device ?? DEFAULT_WATCHDOG_DEVICE,
    driver: section.driver === 'testing' ? 'testing' : 'default',
    safetyMarginSeconds: section.safety_margin ?? 5,
    ttlSeconds: dynamic.ttl,
    loopWaitSeconds: dynamic.loop_wait,
  };
}

export function sameDevice(a: WatchdogSettings, b: WatchdogSettings): boolean {
  return a.device === b.device && a.driver === b.driver;
}

/**
 * Patroni exits at start when a watchdog is required on a platform without one; the agent calls
 * this before joining the cluster.
 */
export function watchdogStartupError(s: WatchdogSettings, platform: NodeJS.Platform = process.platform): string | null {
  if (s.mode === 'required' && s.driver === 'default' && platform !== 'linux') {
    return 'Configuration requires a watchdog, but watchdog is not supported on this platform.';
  }
  return null;
}

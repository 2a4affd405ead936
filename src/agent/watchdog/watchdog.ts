/**
 * The watchdog controller the HA loop drives, with Patroni's semantics (patroni/watchdog/base.py):
 * - `activate()` before promoting (and at the end of bootstrap): open the device, set the timeout
 *   to ttl - safety_margin, read it back. In `required` mode any failure refuses leadership; in
 *   `automatic` mode it warns and the node carries on without a watchdog.
 * - `keepalive()` once per HA cycle, and only after the leader key was renewed: a hung agent
 *   must stop feeding it before the key can expire. Pending config changes apply here, so a new
 *   timeout matches up with a fresh key.
 * - `disable()` on demotion, pause and shutdown: magic close. The agent must call it in a
 *   `finally` (Patroni #609: an exception skipped it and the host rebooted). A crashing agent
 *   deliberately does not: its fd closes without 'V' and the host resets, which is the point.
 */
import fs from 'node:fs';
import { LinuxWatchdogDevice, type WatchdogDevice } from './device.js';
import { EmulatedWatchdogIoctl } from './emulated-ioctl.js';
import { loadKoffiIoctl, WDIOF, type IoctlLoad, type WatchdogSupport } from './ioctl.js';
import { sameDevice, watchdogTiming, type WatchdogMode, type WatchdogSettings } from './settings.js';

export interface WatchdogLogger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Monotonic milliseconds (a DcsClock fits). */
export interface MonotonicClock {
  nowMs(): number;
}

/** Everything in here has already been logged by the controller (with Patroni's wording); the caller logs only its decision. */
export type WatchdogActivation =
  /** `running` false: no watchdog, allowed (mode off, or automatic with `warning` saying why). */
  | { ok: true; running: boolean; warning: string | null }
  /** Required mode and no safe watchdog: the node must not become (or stay) leader. */
  | { ok: false; reason: string };

export interface WatchdogStatus {
  mode: WatchdogMode;
  device: string;
  driver: string;
  /** The device is open and being fed. */
  active: boolean;
  /** What the driver reported after activation; null when not running or unknown (no ioctl). */
  timeoutSeconds: number | null;
  /** ttl - safety_margin for the current settings. */
  configuredTimeoutSeconds: number;
  slackSeconds: number;
  lastKeepaliveAgeSeconds: number | null;
  identity: string | null;
  /** Patroni's `watchdog_failed` is the negation: peers skip an unhealthy member in the leader race. */
  healthy: boolean;
  lastError: string | null;
}

export interface WatchdogOptions {
  logger?: WatchdogLogger;
  clock?: MonotonicClock;
  /** The real ioctl (default: koffi, imported lazily at the first activation). */
  loadIoctl?: () => Promise<IoctlLoad>;
  /** Builds the device for the settings; default: LinuxWatchdogDevice, with an emulated ioctl for `driver: testing`. */
  createDevice?: (settings: WatchdogSettings, ioctl: IoctlLoad) => WatchdogDevice;
  /** Patroni's is_healthy probe (device exists and is writable). */
  deviceWritable?: (path: string) => boolean;
}

const silent: WatchdogLogger = { debug() {}, info() {}, warn() {}, error() {} };
const performanceClock: MonotonicClock = { nowMs: () => performance.now() };

export function defaultCreateDevice(settings: WatchdogSettings, ioctl: IoctlLoad): WatchdogDevice {
  if (settings.driver === 'testing') {
    return new LinuxWatchdogDevice({ path: settings.device, ioctl: new EmulatedWatchdogIoctl({ reportTimeoutToFd: true }).ioctl });
  }
  return ioctl.ok
    ? new LinuxWatchdogDevice({ path: settings.device, ioctl: ioctl.ioctl })
    : new LinuxWatchdogDevice({ path: settings.device, ioctl: null, ioctlUnavailable: ioctl.error });
}

function writable(path: string): boolean {
  try {
    fs.accessSync(path, fs.constants.W_OK);
    return true;
  } catch {
    // Absent or not writable is exactly what the answer false means (Patroni's is_healthy).
    return false;
  }
}

export class Watchdog {
  private settings: WatchdogSettings;
  /** What the running device was configured with; differs from `settings` while a change is pending. */
  private activeSettings: WatchdogSettings;
  private readonly logger: WatchdogLogger;
  private readonly clock: MonotonicClock;
  private readonly loadIoctl: () => Promise<IoctlLoad>;
  private readonly createDevice: (settings: WatchdogSettings, ioctl: IoctlLoad) => WatchdogDevice;
  private readonly deviceWritable: (path: string) => boolean;
  private ioctl: IoctlLoad | null = null;
  private ioctlLoading: Promise<IoctlLoad> | null = null;
  /** Open (armed) device; null when not running. */
  private device: WatchdogDevice | null = null;
  /** Between activate() and disable(): the HA loop wants it fed. */
  private active = false;
  private timeoutSeconds: number | null = null;
  private lastKeepaliveMs: number | null = null;
  private lastError: string | null = null;
  private activationFailed = false;

  constructor(settings: WatchdogSettings, options: WatchdogOptions = {}) {
    this.settings = this.activeSettings = settings;
    this.logger = options.logger ?? silent;
    this.clock = options.clock ?? performanceClock;
    this.loadIoctl = options.loadIoctl ?? (() => loadKoffiIoctl());
    this.createDevice = options.createDevice ?? defaultCreateDevice;
    this.deviceWritable = options.deviceWritable ?? writable;
  }

  get isRunning(): boolean {
    return this.device !== null;
  }

  /** Activated and not disabled since (the device may still be missing in `automatic` mode). */
  get isActive(): boolean {
    return this.active;
  }

  /**
   * Patroni's is_healthy: outside `required` mode always; in it, the timing must leave slack, the
   * device must be writable, and (our addition) the last activation must not have failed.
   */
  get isHealthy(): boolean {
    if (this.settings.mode !== 'required') return true;
    if (this.isRunning) return true;
    return watchdogTiming(this.settings).slackSeconds >= 0 && !this.activationFailed && this.deviceWritable(this.settings.device);
  }

  /**
   * New settings (local reload or a changed dynamic ttl/loop_wait). Off applies at once; otherwise
   * a running watchdog picks them up at the next keepalive, an idle one at the next activation.
   */
  reload(settings: WatchdogSettings): void {
    this.settings = settings;
    this.activationFailed = false;
    if (settings.mode === 'off') {
      this.closeDevice();
      this.activeSettings = settings;
      return;
    }
    if (!this.device) this.activeSettings = settings;
  }

  async activate(): Promise<WatchdogActivation> {
    this.active = true;
    if (this.settings.mode !== 'off' && this.settings.driver === 'default') await this.ensureIoctl();
    return this.activateNow();
  }

  keepalive(): void {
    if (!this.active) return;
    if (this.device) {
      try {
        this.device.keepalive();
        this.lastKeepaliveMs = this.clock.nowMs();
      } catch (err) {
        this.lastError = messageOf(err);
        this.logger.error(`Error while sending keepalive: ${this.lastError}`);
      }
    }
    if (this.settings !== this.activeSettings) this.applyPending();
  }

  disable(): void {
    this.active = false;
    this.closeDevice();
  }

  status(): WatchdogStatus {
    const { timeoutSeconds, slackSeconds } = watchdogTiming(this.settings);
    const now = this.clock.nowMs();
    return {
      mode: this.settings.mode,
      device: this.settings.device,
      driver: this.settings.driver,
      active: this.isRunning,
      timeoutSeconds: this.isRunning ? this.timeoutSeconds : null,
      configuredTimeoutSeconds: timeoutSeconds,
      slackSeconds,
      lastKeepaliveAgeSeconds: this.isRunning && this.lastKeepaliveMs !== null ? Math.round(now - this.lastKeepaliveMs) / 1000 : null,
      identity: this.device ? this.device.describe() : null,
      healthy: this.isHealthy,
      lastError: this.lastError,
    };
  }

  private async ensureIoctl(): Promise<IoctlLoad> {
    if (this.ioctl) return this.ioctl;
    this.ioctlLoading ??= this.loadIoctl().then((load) => {
      this.ioctl = load;
      if (!load.ok) this.logger.warn(`Watchdog ioctls unavailable (${load.error}): the watchdog keeps the driver's default timeout`);
      return load;
    });
    return this.ioctlLoading;
  }

  private activateNow(): WatchdogActivation {
    // A device or driver change while running: disarm the old one before opening the new one.
    if (this.device && !sameDevice(this.activeSettings, this.settings)) this.closeDevice();
    const s = (this.activeSettings = this.settings);
    if (s.mode === 'off') return { ok: true, running: false, warning: null };
    const { timeoutSeconds, slackSeconds } = watchdogTiming(s);

    if (slackSeconds < 0) {
      this.closeDevice();
      // Patroni says "leader TTL X is less than 2x loop_wait Y", which is not the rule it checks (#2040).
      return this.failed(
        `Watchdog not supported because its timeout of ${timeoutSeconds} seconds (ttl ${s.ttlSeconds} - safety_margin ${s.safetyMarginSeconds}) is less than loop_wait ${s.loopWaitSeconds}`,
        'warn',
      );
    }

    let device = this.device;
    if (!device) {
      device = this.createDevice(s, this.ioctl ?? { ok: false, error: 'ioctl not loaded' });
      try {
        device.open();
      } catch (err) {
        return this.failed(`Could not activate ${device.describe()}: ${messageOf(err)}`, 'warn');
      }
      this.device = device;
      this.lastKeepaliveMs = this.clock.nowMs();
    }

    const configured = this.configureTimeout(device, timeoutSeconds);
    const actual = configured.timeoutSeconds;
    if (actual !== null && actual < s.loopWaitSeconds) {
      this.logger.error(`loop_wait of ${s.loopWaitSeconds} seconds is too long for watchdog ${actual} second timeout`);
      if (canBeDisabled(configured.support)) {
        this.logger.info('Disabling watchdog due to unsafe timeout.');
        this.closeDevice();
        return this.failed(`watchdog timeout ${actual} is shorter than loop_wait ${s.loopWaitSeconds}`, 'none');
      }
    }
    if (actual === null || actual > timeoutSeconds) {
      const shown = actual === null ? `unknown (${configured.why})` : String(actual);
      if (s.mode === 'required') {
        this.closeDevice();
        return this.failed(
          `Configuration requires watchdog, but a safe watchdog timeout ${timeoutSeconds} could not be configured. Watchdog timeout is ${shown}.`,
          'error',
        );
      }
      this.logger.warn(
        actual === null
          ? `Watchdog timeout is ${shown}: the driver's default may not ensure safe termination within ${timeoutSeconds} seconds`
          : `Watchdog timeout ${actual} seconds does not ensure safe termination within ${timeoutSeconds} seconds`,
      );
    }

    this.timeoutSeconds = actual;
    this.activationFailed = false;
    this.lastError = null;
    const slack = actual === null ? 'unknown' : String(actual - s.loopWaitSeconds);
    this.logger.info(`${device.describe()} activated with ${actual ?? 'unknown'} second timeout, timing slack ${slack} seconds`);
    return { ok: true, running: true, warning: actual === null ? `watchdog timeout unknown (${configured.why})` : null };
  }

  /** Sets the timeout where the driver allows it, then reads back what is actually in force. */
  private configureTimeout(device: WatchdogDevice, seconds: number): { timeoutSeconds: number | null; support: WatchdogSupport | null; why: string } {
    let support: WatchdogSupport | null = null;
    try {
      support = device.getSupport();
    } catch (err) {
      this.logger.debug(`Could not get watchdog device information: ${messageOf(err)}`);
    }
    if (!support || (support.options & WDIOF.SETTIMEOUT) !== 0) {
      try {
        device.setTimeout(seconds);
      } catch (err) {
        this.logger.warn(`Could not set the watchdog timeout to ${seconds} seconds: ${messageOf(err)}`);
      }
    } else {
      this.logger.warn(`${device.describe()} does not support setting its timeout`);
    }
    try {
      return { timeoutSeconds: device.getTimeout(), support, why: '' };
    } catch (err) {
      return { timeoutSeconds: null, support, why: messageOf(err) };
    }
  }

  /** A failed activation: `required` refuses leadership, `automatic` carries on without a watchdog. */
  private failed(detail: string, level: 'warn' | 'error' | 'none'): WatchdogActivation {
    this.lastError = detail;
    this.timeoutSeconds = null;
    if (level !== 'none') this.logger[level](detail);
    if (this.settings.mode === 'required') {
      this.activationFailed = true;
      if (level !== 'error') this.logger.error('Configuration requires watchdog, but watchdog could not be activated');
      return { ok: false, reason: `Watchdog activation failed: ${detail}` };
    }
    return { ok: true, running: false, warning: detail };
  }

  private applyPending(): void {
    const next = this.settings;
    const prev = this.activeSettings;
    if (!this.device || !sameDevice(prev, next) || prev.mode === 'off') {
      if (next.driver === 'default' && !this.ioctl) {
        // The new device needs the ioctl; load it and apply at the next keepalive.
        void this.ensureIoctl();
        return;
      }
      this.closeDevice();
      this.activateNow();
      return;
    }
    this.activeSettings = next;
    const { timeoutSeconds } = watchdogTiming(next);
    if (timeoutSeconds === watchdogTiming(prev).timeoutSeconds && next.loopWaitSeconds === prev.loopWaitSeconds) return;
    const configured = this.configureTimeout(this.device, timeoutSeconds);
    this.timeoutSeconds = configured.timeoutSeconds;
    const actual = configured.timeoutSeconds;
    this.logger.info(
      `${this.device.describe()} updated with ${actual ?? 'unknown'} second timeout, timing slack ${actual === null ? 'unknown' : actual - next.loopWaitSeconds} seconds`,
    );
    if (actual === null || actual > timeoutSeconds) {
      this.logger.warn(`Watchdog timeout ${actual ?? 'unknown'} seconds does not ensure safe termination within ${timeoutSeconds} seconds`);
    }
  }

  private closeDevice(): void {
    const device = this.device;
    if (!device) return;
    this.device = null;
    this.timeoutSeconds = null;
    const description = device.describe();
    let support: WatchdogSupport | null = null;
    try {
      support = device.getSupport();
    } catch {
      // Unknown: assume magic close works, like Patroni.
    }
    try {
      if (!canBeDisabled(support)) {
        // Give the operator the full timeout to clean up before the reset.
        device.keepalive();
        this.logger.warn(`Watchdog implementation can't be disabled. System will reboot after ${device.getTimeout()} seconds when watchdog times out.`);
      }
    } catch (err) {
      this.logger.error(`Error while disabling watchdog: ${messageOf(err)}`);
    }
    try {
      device.close(true);
      this.logger.info(`${description} disabled`);
    } catch (err) {
      this.lastError = messageOf(err);
      this.logger.error(`Error while disabling watchdog: ${this.lastError}`);
    }
  }
}

function canBeDisabled(support: WatchdogSupport | null): boolean {
  return !support || (support.options & WDIOF.MAGICCLOSE) !== 0;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

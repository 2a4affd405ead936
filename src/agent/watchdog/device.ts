/**
 * The watchdog device: a file descriptor the kernel resets the host through unless it is written to
 * within the timeout. Kernel semantics (drivers/watchdog/watchdog_dev.c): opening arms the timer,
 * any write() is a keepalive, a 'V' in the last write before close() disarms it ("magic close");
 * closing without 'V' leaves the timer running. Setting the timeout needs ioctl — there is no
 * sysfs or write path for it.
 */
import fs from 'node:fs';
import { WatchdogError } from './errors.js';
import { decodeSupport, intArg, readIntArg, WATCHDOG_INFO_BYTES, WDIOC, type Ioctl, type WatchdogSupport } from './ioctl.js';

export const DEFAULT_WATCHDOG_DEVICE = '/dev/watchdog';

/** The small surface the controller needs; `LinuxWatchdogDevice` is the only real implementation. */
export interface WatchdogDevice {
  readonly path: string;
  readonly isOpen: boolean;
  /** Opens (and so arms) the device. Throws WatchdogError. */
  open(): void;
  /** Resets the timer (one write). Throws WatchdogError. */
  keepalive(): void;
  /** WDIOC_SETTIMEOUT; returns the timeout the driver actually chose. Throws WatchdogError. */
  setTimeout(seconds: number): number;
  /** WDIOC_GETTIMEOUT. Throws WatchdogError (e.g. ENOTTY, or no ioctl available). */
  getTimeout(): number;
  /** WDIOC_GETSUPPORT: options bits, firmware version, identity ("Software Watchdog"). Throws WatchdogError. */
  getSupport(): WatchdogSupport;
  /** Patroni's description: identity, ` (firmware N)`, ` at <device>` when not the default path. */
  describe(): string;
  /** Closes the fd; with `magic`, writes 'V' first so the driver disarms instead of resetting the host. */
  close(magic: boolean): void;
}

export interface LinuxWatchdogDeviceOptions {
  path?: string;
  /** null when no ioctl is available: the device keeps the driver's default timeout. */
  ioctl: Ioctl | null;
  /** Why `ioctl` is null, for the error messages. */
  ioctlUnavailable?: string;
  /** The byte written per keepalive. Patroni writes '1'; the kernel only looks for 'V'. */
  keepaliveByte?: string;
}

export class LinuxWatchdogDevice implements WatchdogDevice {
  readonly path: string;
  private readonly ioctlFn: Ioctl | null;
  private readonly ioctlUnavailable: string;
  private readonly keepaliveByte: string;
  private fd: number | null = null;
  private support: WatchdogSupport | null = null;

  constructor(options: LinuxWatchdogDeviceOptions) {
    this.path = options.path ?? DEFAULT_WATCHDOG_DEVICE;
    this.ioctlFn = options.ioctl;
    this.ioctlUnavailable = options.ioctlUnavailable ?? 'no ioctl implementation';
    this.keepaliveByte = options.keepaliveByte ?? '1';
    if (this.keepaliveByte === 'V') throw new RangeError("the keepalive byte cannot be the magic close character 'V'");
  }

  get isOpen(): boolean {
    return this.fd !== null;
  }

  /** The open fd, for the `testing` driver's emulated ioctl and for tests. */
  get fileDescriptor(): number | null {
    return this.fd;
  }

  open(): void {
    if (this.fd !== null) return;
    let flags: number;
    try {
      flags = openFlags(fs.statSync(this.path));
      // Never O_CREAT (what fs.openSync(path, 'w') adds): a missing /dev/watchdog must fail to open,
      // not become a plain file that silently "works". libuv opens with O_CLOEXEC, so pg_ctl and
      // other children never inherit (and keep armed) the watchdog fd.
      this.fd = fs.openSync(this.path, flags);
    } catch (err) {
      throw new WatchdogError(`Can't open watchdog device: ${message(err)}`, { cause: err });
    }
    this.support = null;
  }

  keepalive(): void {
    this.write(this.keepaliveByte, 'Could not send watchdog keepalive');
  }

  setTimeout(seconds: number): number {
    if (!Number.isInteger(seconds) || seconds < 1) throw new WatchdogError(`Invalid watchdog timeout ${seconds}`);
    const buf = intArg(seconds);
    this.ioctl(WDIOC.SETTIMEOUT, buf, 'Could not set watchdog timeout');
    return readIntArg(buf);
  }

  getTimeout(): number {
    const buf = intArg(0);
    this.ioctl(WDIOC.GETTIMEOUT, buf, 'Could not get watchdog timeout');
    return readIntArg(buf);
  }

  getSupport(): WatchdogSupport {
    if (this.support) return this.support;
    const buf = Buffer.alloc(WATCHDOG_INFO_BYTES);
    this.ioctl(WDIOC.GETSUPPORT, buf, 'Could not get watchdog device information');
    this.support = decodeSupport(buf);
    return this.support;
  }

  describe(): string {
    let identity = 'Linux watchdog device';
    let firmware = '';
    if (this.fd !== null) {
      try {
        const info = this.getSupport();
        if (info.identity) identity = info.identity;
        if (info.firmwareVersion) firmware = ` (firmware ${info.firmwareVersion})`;
      } catch {
        // Identity is cosmetic; keep the generic name.
      }
    }
    return identity + firmware + (this.path !== DEFAULT_WATCHDOG_DEVICE ? ` at ${this.path}` : '');
  }

  close(magic: boolean): void {
    if (this.fd === null) return;
    const fd = this.fd;
    let failure: unknown = null;
    if (magic) {
      try {
        fs.writeSync(fd, 'V');
      } catch (err) {
        failure = err;
      }
    }
    this.fd = null;
    this.support = null;
    try {
      fs.closeSync(fd);
    } catch (err) {
      failure ??= err;
    }
    if (failure) throw new WatchdogError(`Could not close watchdog device${magic ? ' with the magic character' : ''}: ${message(failure)}`);
  }

  private write(data: string, what: string): void {
    if (this.fd === null) throw new WatchdogError(`${what}: watchdog device is not open`);
    try {
      fs.writeSync(this.fd, data);
    } catch (err) {
      throw new WatchdogError(`${what}: ${message(err)}`, { cause: err });
    }
  }

  private ioctl(request: number, buf: Buffer, what: string): void {
    if (this.fd === null) throw new WatchdogError(`${what}: watchdog device is not open`);
    if (!this.ioctlFn) throw new WatchdogError(`${what}: ioctl unavailable (${this.ioctlUnavailable})`);
    try {
      this.ioctlFn(this.fd, request, buf);
    } catch (err) {
      throw new WatchdogError(`${what}: ${message(err)}`, { cause: err });
    }
  }
}

function openFlags(stat: fs.Stats): number {
  const { O_WRONLY, O_RDWR, O_APPEND, O_NONBLOCK } = fs.constants;
  // Test drivers: O_WRONLY on a FIFO blocks (the whole event loop) until a reader exists, and a full
  // pipe must fail a keepalive rather than hang the agent; a regular file records every session.
  if (stat.isFIFO()) return O_RDWR | O_NONBLOCK;
  if (stat.isFile()) return O_WRONLY | O_APPEND;
  return O_WRONLY;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A software stand-in for a watchdog driver's ioctls: the `testing` driver (Patroni's hidden
 * `watchdog.driver: testing`) and the unit tests use it on a FIFO or a regular file, since no
 * machine here has /dev/watchdog. Like Patroni's TestingWatchdogDevice it reports a timeout change
 * into the stream as `Ctimeout=<seconds>\n`, so the fake device reader sees pings, timeouts and
 * closes in one place.
 */
import fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import { IoctlError } from './errors.js';
import { encodeSupport, readIntArg, requestName, WDIOC, WDIOF, writeIntArg, type Ioctl } from './ioctl.js';

export interface EmulatedIoctlOptions {
  /** The timeout before anyone sets one (softdog's default is 60). */
  defaultTimeoutSeconds?: number;
  identity?: string;
  firmwareVersion?: number;
  options?: number;
  /** Largest timeout the "driver" accepts; larger requests are clamped like real drivers do. */
  maxTimeoutSeconds?: number;
  /** Write `Ctimeout=N\n` to the fd on WDIOC_SETTIMEOUT (the FIFO protocol of the fake device). */
  reportTimeoutToFd?: boolean;
  /** Make requests fail with an errno name, e.g. `{ [WDIOC.SETTIMEOUT]: 'ENOTTY' }`. */
  failures?: Partial<Record<number, string>>;
}

export interface IoctlCall {
  fd: number;
  request: string;
  /** The int argument for the timeout requests, as passed in. */
  value: number | null;
}

export class EmulatedWatchdogIoctl {
  timeoutSeconds: number;
  readonly calls: IoctlCall[] = [];
  readonly ioctl: Ioctl;
  private readonly opts: Required<Omit<EmulatedIoctlOptions, 'failures'>> & { failures: Partial<Record<number, string>> };

  constructor(options: EmulatedIoctlOptions = {}) {
    this.opts = {
      defaultTimeoutSeconds: options.defaultTimeoutSeconds ?? 60,
      identity: options.identity ?? 'Watchdog test harness',
      firmwareVersion: options.firmwareVersion ?? 0,
      options: options.options ?? WDIOF.SETTIMEOUT | WDIOF.MAGICCLOSE | WDIOF.KEEPALIVEPING,
      maxTimeoutSeconds: options.maxTimeoutSeconds ?? 65535,
      reportTimeoutToFd: options.reportTimeoutToFd ?? false,
      failures: options.failures ?? {},
    };
    this.timeoutSeconds = this.opts.defaultTimeoutSeconds;
    this.ioctl = (fd, request, arg) => this.handle(fd, request, arg);
  }

  callsOf(request: number): IoctlCall[] {
    const name = requestName(request);
    return this.calls.filter((c) => c.request === name);
  }

  private handle(fd: number, request: number, arg: Buffer): void {
    const name = requestName(request);
    const isInt = request === WDIOC.SETTIMEOUT || request === WDIOC.GETTIMEOUT;
    this.calls.push({ fd, request: name, value: isInt ? readIntArg(arg) : null });
    const failure = this.opts.failures[request];
    if (failure) throw new IoctlError(name, errnoNumber(failure));
    switch (request) {
      case WDIOC.GETSUPPORT:
        encodeSupport({ options: this.opts.options, firmwareVersion: this.opts.firmwareVersion, identity: this.opts.identity }).copy(arg);
        return;
      case WDIOC.SETTIMEOUT: {
        if ((this.opts.options & WDIOF.SETTIMEOUT) === 0) throw new IoctlError(name, errnoNumber('EOPNOTSUPP'));
        const requested = readIntArg(arg);
        if (requested < 1) throw new IoctlError(name, errnoNumber('EINVAL'));
        this.timeoutSeconds = Math.min(requested, this.opts.maxTimeoutSeconds);
        writeIntArg(arg, this.timeoutSeconds);
        if (this.opts.reportTimeoutToFd) fs.writeSync(fd, `Ctimeout=${this.timeoutSeconds}\n`);
        return;
      }
      case WDIOC.GETTIMEOUT:
        writeIntArg(arg, this.timeoutSeconds);
        return;
      case WDIOC.KEEPALIVE:
        if (this.opts.reportTimeoutToFd) fs.writeSync(fd, '1');
        return;
      default:
        throw new IoctlError(name, errnoNumber('ENOTTY'));
    }
  }
}

function errnoNumber(name: string): number {
  const n = (osConstants.errno as Record<string, number>)[name];
  if (n === undefined) throw new RangeError(`unknown errno name ${name}`);
  return n;
}

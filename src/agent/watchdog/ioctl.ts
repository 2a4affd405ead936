/**
 * The Linux watchdog ioctls (<linux/watchdog.h>), behind an injectable function so tests and the
 * `testing` driver never need a real device. Request numbers were checked against the header with
 * gcc on this machine kind (docs/watchdog-ioctls.md).
 */
import { endianness } from 'node:os';
import { IoctlError } from './errors.js';

export const WDIOC = {
  GETSUPPORT: 0x80285700,
  GETSTATUS: 0x80045701,
  SETOPTIONS: 0x80045704,
  KEEPALIVE: 0x80045705,
  SETTIMEOUT: 0xc0045706,
  GETTIMEOUT: 0x80045707,
  GETTIMELEFT: 0x8004570a,
} as const;

/** Bits of `watchdog_info.options`. */
export const WDIOF = {
  SETTIMEOUT: 0x0080,
  MAGICCLOSE: 0x0100,
  KEEPALIVEPING: 0x8000,
} as const;

/** sizeof(struct watchdog_info): u32 options, u32 firmware_version, u8 identity[32]. */
export const WATCHDOG_INFO_BYTES = 40;

/**
 * ioctl(fd, request, arg): `arg` is the in/out buffer (an int for the timeout requests, a
 * watchdog_info for GETSUPPORT). Throws IoctlError with the errno on failure.
 */
export type Ioctl = (fd: number, request: number, arg: Buffer) => void;

export interface WatchdogSupport {
  options: number;
  firmwareVersion: number;
  identity: string;
}

export function requestName(request: number): string {
  for (const [name, value] of Object.entries(WDIOC)) if (value === request) return `WDIOC_${name}`;
  return `ioctl 0x${request.toString(16)}`;
}

export function encodeSupport(info: WatchdogSupport): Buffer {
  const buf = Buffer.alloc(WATCHDOG_INFO_BYTES);
  buf.writeUInt32LE(info.options >>> 0, 0);
  buf.writeUInt32LE(info.firmwareVersion >>> 0, 4);
  buf.write(info.identity.slice(0, 31), 8, 'latin1');
  return buf;
}

export function decodeSupport(buf: Buffer): WatchdogSupport {
  const identityBytes = buf.subarray(8, WATCHDOG_INFO_BYTES);
  const nul = identityBytes.indexOf(0);
  return {
    options: buf.readUInt32LE(0),
    firmwareVersion: buf.readUInt32LE(4),
    identity: identityBytes.subarray(0, nul === -1 ? identityBytes.length : nul).toString('latin1'),
  };
}

// The timeout ioctls take a C int in host byte order.
const littleEndian = endianness() === 'LE';

export function intArg(value: number): Buffer {
  const buf = Buffer.alloc(4);
  writeIntArg(buf, value);
  return buf;
}

export function readIntArg(buf: Buffer): number {
  return littleEndian ? buf.readInt32LE(0) : buf.readInt32BE(0);
}

export function writeIntArg(buf: Buffer, value: number): void {
  if (littleEndian) buf.writeInt32LE(value);
  else buf.writeInt32BE(value);
}

export type IoctlLoad = { ok: true; ioctl: Ioctl } | { ok: false; error: string };

/**
 * The real ioctl through koffi (prebuilt FFI, no compiler needed). Imported lazily: only an agent
 * that actually activates a watchdog pays for it, and a host where the native module cannot load
 * still runs — with the driver's default timeout and a warning from the controller.
 */
export async function loadKoffiIoctl(libc = 'libc.so.6'): Promise<IoctlLoad> {
  try {
    const mod = await import('koffi');
    const koffi = mod.default ?? mod;
    const native = koffi.load(libc).func('int ioctl(int, unsigned long, _Inout_ uint8_t *)');
    const ioctl: Ioctl = (fd, request, arg) => {
      const rc = native(fd, request, arg) as number;
      if (rc < 0) throw new IoctlError(requestName(request), koffi.errno());
    };
    return { ok: true, ioctl };
  } catch (err) {
    return { ok: false, error: `koffi could not be loaded: ${err instanceof Error ? err.message : String(err)}` };
  }
}

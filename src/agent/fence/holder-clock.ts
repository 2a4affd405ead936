/**
 * The lease HOLDER's clock (issue 13 item 4): CLOCK_BOOTTIME, which keeps counting while the host
 * is suspended (and through the VM pauses that the guest kernel sees as a suspend), unlike
 * CLOCK_MONOTONIC (Node's performance.now() and process.hrtime), which stops.
 *
 * Why the two sides of a lease use different clocks. The holder (the HA loop's lease belief and the
 * fence's deadline) must never believe it still holds the key when, in real time, it may already be
 * gone. If the holder's clock stops while real time runs on (a suspend), the holder believes too
 * little time has passed: after the resume the old primary would serve writes while another member,
 * whose clocks did not stop, has expired the key and promoted. Counting on a clock that includes the
 * suspend makes the holder's belief end no later than the real time it stands for. The EXPIRING side
 * (the Raft leader, src/raft/kv/lease.ts) keeps CLOCK_MONOTONIC: if ITS clock stops, it expires the
 * key later than real time, which only delays a failover. Each side errs in the safe direction; the
 * rate bound ρ of the lease rule covers the remaining drift between hosts.
 *
 * Both the agent and the fence process read this file's clock, so a deadline the agent computes is
 * compared by the fence on the same host clock (no per-process offset to convert).
 *
 * Source: clock_gettime(CLOCK_BOOTTIME) through koffi (already a dependency, for the watchdog's
 * ioctls): ~0.65 µs per read on this machine kind under load, against 0.23 µs for process.hrtime.bigint() (bench/fence:
 * `node --import tsx bench/fence/holder-clock.ts`, bench/RESULTS.md). Where koffi cannot load, /proc/uptime, which the kernel also
 * derives from CLOCK_BOOTTIME, at 10 ms resolution; a reading is advanced by one resolution step so
 * that it can only make a deadline come EARLIER (~50 µs per read).
 *
 * Builtins plus koffi only: the fence process imports this file (see fence-process.ts).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { endianness } from 'node:os';

const CLOCK_BOOTTIME = 7; // <linux/time.h>

/**
 * How often the fence re-reads the holder clock while armed, at most (ms): the bound on how late it
 * kills after a resume from suspend (its timers count CLOCK_MONOTONIC, which stopped meanwhile).
 */
export const HOLDER_RECHECK_MS = 250;

/** Where the holder clock comes from on this host (logged once by the agent and the fence). */
export type HolderClockSource = 'CLOCK_BOOTTIME' | '/proc/uptime';

interface Reader {
  source: HolderClockSource;
  readNs(): bigint;
}

function koffiReader(): Reader | null {
  try {
    const require = createRequire(import.meta.url);
    const mod = require('koffi') as { default?: unknown };
    const koffi = (mod.default ?? mod) as { load(lib: string): { func(sig: string): (clock: number, out: Buffer) => number } };
    const gettime = koffi.load('libc.so.6').func('int clock_gettime(int, _Out_ uint8_t *)');
    // struct timespec on 64-bit Linux: two 64-bit integers, host byte order.
    const buf = Buffer.alloc(16);
    const le = endianness() === 'LE';
    const readNs = (): bigint => {
      if (gettime(CLOCK_BOOTTIME, buf) !== 0) throw new Error('clock_gettime(CLOCK_BOOTTIME) failed');
      const sec = le ? buf.readBigInt64LE(0) : buf.readBigInt64BE(0);
      const nsec = le ? buf.readBigInt64LE(8) : buf.readBigInt64BE(8);
      return sec * 1_000_000_000n + nsec;
    };
    readNs();
    return { source: 'CLOCK_BOOTTIME', readNs };
  } catch {
    // No koffi on this host (or no such clock): /proc/uptime below, also boot time, coarser.
    return null;
  }
}

function uptimeReader(): Reader {
  return {
    source: '/proc/uptime',
    readNs() {
      // "12345.67 …": seconds with two decimals, truncated; + 10 ms so the reading is never behind.
      const [whole, frac = '0'] = fs.readFileSync('/proc/uptime', 'latin1').split(' ')[0]!.split('.');
      return BigInt(whole!) * 1_000_000_000n + BigInt(frac.padEnd(2, '0').slice(0, 2)) * 10_000_000n + 10_000_000n;
    },
  };
}

let reader: Reader | null = null;
function current(): Reader {
  reader ??= koffiReader() ?? uptimeReader();
  return reader;
}

/** The holder clock in ns (CLOCK_BOOTTIME: time since boot, suspend included). */
export function holderClockNs(): bigint {
  return current().readNs();
}

/** The holder clock in ms (what the HA loop, the DCS lease belief and the fence controller read). */
export function holderNowMs(): number {
  return Number(current().readNs()) / 1e6;
}

export function holderClockSource(): HolderClockSource {
  return current().source;
}

/**
 * Converts a deadline in holder ms to holder ns for the fence; rounded DOWN, so the conversion can
 * only make the deadline earlier.
 */
export function holderMsToNs(ms: number): bigint {
  return BigInt(Math.floor(ms * 1e6));
}

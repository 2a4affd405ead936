// Ports for a local cluster whose members bind them later (`hactl demo`, the test fixtures).
//
// "Bind port 0, read it, close it, let a child bind it" is a race twice over: port 0 comes from the
// kernel's ephemeral range, which every outgoing connection on the machine also draws its source
// port from, and any other process asking for port 0 may get the same number meanwhile. So:
// - ports come from just below the ephemeral range (`ip_local_port_range`), which the kernel never
//   hands out on its own;
// - each port is reserved machine-wide by binding the abstract unix socket `\0hactl-port-<n>`:
//   binding it is atomic, every hactl process (several test files, several worktrees, a demo) sees
//   the same names, and the kernel drops it when the process ends, even under SIGKILL, so there is no
//   stale lock file to reclaim. The reservation is held until this process exits;
// - a port is handed out only if a TCP bind on it succeeds right now (something outside this scheme
//   may listen there).
// Abstract sockets live per network namespace: reservations are made in the namespace the caller
// runs in, and ports for members inside fresh test namespaces are free there anyway.
import { readFileSync } from 'node:fs';
import net from 'node:net';

export interface PortRange {
  /** First port (inclusive). */
  low: number;
  /** Last port (inclusive). */
  high: number;
}

/** How many ports below the ephemeral range we use; 12,768 fits under Linux's default 32768. */
const SPAN = 12_768;
/** Under this many ports on either side of the ephemeral range the machine is set up oddly: say so. */
const MIN_SPAN = 1_000;

/** The kernel's ephemeral range, from `/proc/sys/net/ipv4/ip_local_port_range` (Linux's default when unreadable). */
export function ephemeralRange(procFile = '/proc/sys/net/ipv4/ip_local_port_range'): PortRange {
  try {
    const [low, high] = readFileSync(procFile, 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low! > 0 && high! >= low!) return { low: low!, high: high! };
  } catch {
    // Not Linux or no /proc: fall through to Linux's default, which is also what most systems use.
  }
  return { low: 32768, high: 60999 };
}

/** The ports we reserve from: below the ephemeral range, else above it; throws when neither side is usable. */
export function reservableRange(ephemeral: PortRange = ephemeralRange()): PortRange {
  const belowLow = Math.max(1024, ephemeral.low - SPAN);
  if (ephemeral.low - belowLow >= MIN_SPAN) return { low: belowLow, high: ephemeral.low - 1 };
  const aboveHigh = Math.min(65535, ephemeral.high + SPAN);
  if (aboveHigh - ephemeral.high >= MIN_SPAN) return { low: ephemeral.high + 1, high: aboveHigh };
  throw new Error(
    `no room for local cluster ports outside the ephemeral range ${ephemeral.low}-${ephemeral.high} (net.ipv4.ip_local_port_range): leave at least ${MIN_SPAN} ports below or above it`,
  );
}

const held = new Map<number, MachineWideLock>();

function listen(server: net.Server, options: net.ListenOptions): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      // Taken (by another reservation or another program) means "try the next port"; anything else is real.
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(false);
      else reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve(true);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(options);
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Whether a TCP listener could bind `host:port` right now (bound and closed at once: no connection, so no TIME_WAIT). */
async function bindable(host: string, port: number): Promise<boolean> {
  const probe = net.createServer();
  const ok = await listen(probe, { host, port, exclusive: true });
  if (ok) await close(probe);
  return ok;
}

export interface MachineWideLock {
  release(): Promise<void>;
}

/**
 * Takes the machine-wide name `hactl-<name>` (an abstract unix socket) for this process, or null when
 * another process holds it. Released by `release()` or when the process ends, however it ends.
 */
export async function lockMachineWide(name: string): Promise<MachineWideLock | null> {
  const server = net.createServer();
  if (!(await listen(server, { path: `\0hactl-${name}`, exclusive: true }))) return null;
  // The lock must not keep a finished process alive.
  server.unref();
  return { release: () => close(server) };
}

/** Reserve one port for this process if nobody holds it and `host` can bind it now. */
async function tryReserve(port: number, host: string): Promise<boolean> {
  if (held.has(port)) return false;
  const lock = await lockMachineWide(`port-${port}`);
  if (!lock) return false;
  if (!(await bindable(host, port))) {
    await lock.release();
    return false;
  }
  held.set(port, lock);
  return true;
}

/**
 * `count` distinct ports that no other hactl process holds and that `host` can bind now, reserved
 * for this process until it exits (or `releasePorts`). Members inside fresh network namespaces pass
 * 127.0.0.1: every port is free in their namespace.
 */
export async function freePorts(count: number, host = '127.0.0.1', range: PortRange = reservableRange()): Promise<number[]> {
  const size = range.high - range.low + 1;
  // A random start spreads concurrent processes over the range, so they rarely probe the same ports.
  const start = Math.floor(Math.random() * size);
  const ports: number[] = [];
  for (let i = 0; i < size && ports.length < count; i++) {
    const port = range.low + ((start + i) % size);
    if (await tryReserve(port, host)) ports.push(port);
  }
  if (ports.length < count) {
    await releasePorts(ports);
    throw new Error(`only ${ports.length} of ${count} ports free in ${range.low}-${range.high} on ${host}`);
  }
  return ports;
}

/** One reserved port (see `freePorts`). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return (await freePorts(1, host))[0]!;
}

/** Give reservations back before exit (a long-lived process that made many). */
export async function releasePorts(ports: readonly number[]): Promise<void> {
  await Promise.all(
    ports.map(async (port) => {
      const lock = held.get(port);
      if (!lock) return;
      held.delete(port);
      await lock.release();
    }),
  );
}

/** Whether this process holds the reservation of `port` (for tests). */
export function isReserved(port: number): boolean {
  return held.has(port);
}

/**
 * "Would the watchdog have fired?" — the kernel's rules replayed over what a fake device saw, so a
 * test without /dev/watchdog can still prove a frozen leader would have been reset. Pure: events
 * in, verdict out; the FIFO reader (fake-device.ts) produces the events.
 *
 * Kernel rules modelled: open arms and pings; every write pings (a keepalive byte, the 'V', a
 * timeout change); close disarms only if the last byte written before it was 'V'; an unclean close
 * leaves the timer running until a new opener feeds it. The host resets when, while armed, more
 * than the timeout passes without a ping.
 */

export type FakeWatchdogEvent =
  | { type: 'open'; atMs: number }
  | { type: 'keepalive'; atMs: number }
  /** The magic close character 'V' was written (a ping as well). */
  | { type: 'magic'; atMs: number }
  /** `Ctimeout=N\n` from the testing driver: WDIOC_SETTIMEOUT. */
  | { type: 'timeout'; atMs: number; seconds: number }
  | { type: 'close'; atMs: number; magic: boolean };

/**
 * Incremental parser of the byte stream the testing driver writes: `V` is the magic character,
 * `C<key>=<value>\n` a config record (Patroni's TestingWatchdogDevice format), any other byte a
 * keepalive.
 */
export class WatchdogStreamParser {
  private record: string | null = null;
  /** Whether the last byte seen was 'V' (decides whether the next close is a magic close). */
  lastByteWasMagic = false;

  feed(chunk: Buffer, atMs: number): FakeWatchdogEvent[] {
    const events: FakeWatchdogEvent[] = [];
    for (const byte of chunk) {
      const ch = String.fromCharCode(byte);
      if (this.record !== null) {
        if (ch === '\n') {
          const m = /^timeout=(\d+)$/.exec(this.record);
          if (m) events.push({ type: 'timeout', atMs, seconds: Number(m[1]) });
          this.record = null;
        } else {
          this.record += ch;
        }
        this.lastByteWasMagic = false;
        continue;
      }
      if (ch === 'C') {
        this.record = '';
        this.lastByteWasMagic = false;
      } else if (ch === 'V') {
        events.push({ type: 'magic', atMs });
        this.lastByteWasMagic = true;
      } else {
        events.push({ type: 'keepalive', atMs });
        this.lastByteWasMagic = false;
      }
    }
    return events;
  }

  /** A new writer session starts clean. */
  reset(): void {
    this.record = null;
    this.lastByteWasMagic = false;
  }
}

export interface WatchdogGap {
  /** Last ping before the gap. */
  fromMs: number;
  /** The next ping, or the end of observation when `ongoing`. */
  toMs: number;
  gapMs: number;
  timeoutSeconds: number;
  /** When the reset would have happened: fromMs + timeout. */
  firesAtMs: number;
  ongoing: boolean;
}

export interface WatchdogAnalysis {
  opens: number;
  keepalives: number;
  magicCloses: number;
  uncleanCloses: number;
  /** The timeout in force at the end (the override, the last `Ctimeout`, or the driver default). */
  timeoutSeconds: number;
  /** Armed at the end of observation (open, or closed without 'V'). */
  armed: boolean;
  lastPingAtMs: number | null;
  /** Longest time without a ping while armed, including an ongoing one. */
  maxGapMs: number;
  /** Every armed gap longer than the timeout in force. */
  gaps: WatchdogGap[];
  wouldHaveFired: boolean;
  firstFireAtMs: number | null;
}

export interface AnalyzeOptions {
  /** End of observation (now, for a live reader): an armed device unfed since then counts as a gap. */
  endMs: number;
  /** Force the timeout instead of taking it from `timeout` events. */
  timeoutSeconds?: number;
  /** Before any `timeout` event: softdog's default is 60 s. */
  defaultTimeoutSeconds?: number;
}

export function analyzeWatchdogEvents(events: readonly FakeWatchdogEvent[], options: AnalyzeOptions): WatchdogAnalysis {
  let timeoutSeconds = options.timeoutSeconds ?? options.defaultTimeoutSeconds ?? 60;
  let armed = false;
  let lastPing: number | null = null;
  const result: WatchdogAnalysis = {
    opens: 0,
    keepalives: 0,
    magicCloses: 0,
    uncleanCloses: 0,
    timeoutSeconds,
    armed: false,
    lastPingAtMs: null,
    maxGapMs: 0,
    gaps: [],
    wouldHaveFired: false,
    firstFireAtMs: null,
  };
  const checkGap = (toMs: number, ongoing: boolean) => {
    if (!armed || lastPing === null) return;
    const gapMs = toMs - lastPing;
    result.maxGapMs = Math.max(result.maxGapMs, gapMs);
    if (gapMs > timeoutSeconds * 1000) {
      result.gaps.push({ fromMs: lastPing, toMs, gapMs, timeoutSeconds, firesAtMs: lastPing + timeoutSeconds * 1000, ongoing });
    }
  };
  const ordered = [...events].sort((a, b) => a.atMs - b.atMs);
  for (const e of ordered) {
    checkGap(e.atMs, false);
    switch (e.type) {
      case 'open':
        result.opens++;
        armed = true;
        lastPing = e.atMs;
        break;
      case 'keepalive':
        result.keepalives++;
        lastPing = e.atMs;
        break;
      case 'magic':
        lastPing = e.atMs;
        break;
      case 'timeout':
        if (options.timeoutSeconds === undefined) timeoutSeconds = e.seconds;
        lastPing = e.atMs;
        break;
      case 'close':
        if (e.magic) {
          result.magicCloses++;
          armed = false;
          lastPing = null;
        } else {
          result.uncleanCloses++;
        }
        break;
    }
  }
  checkGap(options.endMs, true);
  result.timeoutSeconds = timeoutSeconds;
  result.armed = armed;
  result.lastPingAtMs = lastPing;
  result.wouldHaveFired = result.gaps.length > 0;
  result.firstFireAtMs = result.gaps.length > 0 ? Math.min(...result.gaps.map((g) => g.firesAtMs)) : null;
  return result;
}

/**
 * The fake watchdog device: a reader on the FIFO the `testing` driver writes to. It records opens,
 * keepalives, timeout changes and (magic or unclean) closes with timestamps, and says whether a
 * real watchdog would have reset the host (detector.ts). Used in-process by unit tests and as its
 * own process by end-to-end tests (a SIGSTOPped leader agent must show "would have fired"):
 *
 *   node --import tsx src/agent/watchdog/fake-device.ts --fifo /tmp/wd --out /tmp/wd.json [--mkfifo]
 *        [--timeout N] [--default-timeout 60] [--poll-ms 20] [--report-ms 250]
 *   (or node dist/agent/watchdog/fake-device.js after a build)
 *
 * The report (JSON, rewritten atomically after every change and every --report-ms) is
 * `{ fifo, startedAtMs, updatedAtMs, analysis, events }` with epoch-millisecond timestamps.
 * Start the reader before the agent opens the FIFO, or early bytes arrive with late timestamps.
 * Imports only node built-ins and the pure detector, so it starts fast.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { analyzeWatchdogEvents, WatchdogStreamParser, type AnalyzeOptions, type FakeWatchdogEvent, type WatchdogAnalysis } from './detector.js';

/** Node has no mkfifo(3); coreutils' mkfifo does it. No-op when `path` already is a FIFO. */
export function ensureFifo(path: string): void {
  try {
    if (fs.statSync(path).isFIFO()) return;
    throw new Error(`${path} exists and is not a FIFO`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const r = spawnSync('mkfifo', ['-m', '0600', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfifo ${path} failed: ${r.error?.message ?? r.stderr.trim()}`);
}

export interface FakeWatchdogReaderOptions {
  path: string;
  /** How often to drain the FIFO; timestamps are this precise. */
  pollMs?: number;
  /** Wall-clock milliseconds by default, so reports line up with other processes' logs. */
  nowMs?: () => number;
  onEvents?: (events: FakeWatchdogEvent[]) => void;
}

/**
 * Reads the FIFO with O_RDONLY|O_NONBLOCK, which never blocks and tells writer presence apart:
 * EAGAIN = a writer holds it open with nothing to read, 0 = no writer at all (so data or EAGAIN
 * after 0 is an open, and 0 after them a close).
 */
export class FakeWatchdogReader {
  readonly events: FakeWatchdogEvent[] = [];
  private readonly parser = new WatchdogStreamParser();
  private readonly buf = Buffer.alloc(4096);
  private readonly nowMs: () => number;
  private fd: number | null;
  private timer: NodeJS.Timeout | null;
  private writerPresent = false;

  constructor(private readonly options: FakeWatchdogReaderOptions) {
    this.nowMs = options.nowMs ?? Date.now;
    this.fd = fs.openSync(options.path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    this.timer = setInterval(() => this.poll(), options.pollMs ?? 20);
    // A forgotten stop() must not keep a test process alive; the CLI keeps itself alive with its report timer.
    this.timer.unref();
  }

  /** Drain what is there now (also called by the timer). */
  poll(): void {
    if (this.fd === null) return;
    const fresh: FakeWatchdogEvent[] = [];
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(this.fd, this.buf, 0, this.buf.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        this.markOpen(fresh);
        break;
      }
      if (n === 0) {
        if (this.writerPresent) {
          fresh.push({ type: 'close', atMs: this.nowMs(), magic: this.parser.lastByteWasMagic });
          this.writerPresent = false;
        }
        break;
      }
      this.markOpen(fresh);
      fresh.push(...this.parser.feed(this.buf.subarray(0, n), this.nowMs()));
    }
    if (fresh.length > 0) {
      this.events.push(...fresh);
      this.options.onEvents?.(fresh);
    }
  }

  count(type: FakeWatchdogEvent['type']): number {
    return this.events.filter((e) => e.type === type).length;
  }

  analyze(options: Partial<AnalyzeOptions> = {}): WatchdogAnalysis {
    return analyzeWatchdogEvents(this.events, { endMs: this.nowMs(), ...options });
  }

  stop(): void {
    if (this.fd === null) return;
    this.poll();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    fs.closeSync(this.fd);
    this.fd = null;
  }

  private markOpen(fresh: FakeWatchdogEvent[]): void {
    if (this.writerPresent) return;
    this.writerPresent = true;
    this.parser.reset();
    fresh.push({ type: 'open', atMs: this.nowMs() });
  }
}

export interface FakeWatchdogReport {
  fifo: string;
  startedAtMs: number;
  updatedAtMs: number;
  analysis: WatchdogAnalysis;
  /** The most recent events (at most 1000). */
  events: FakeWatchdogEvent[];
}

interface CliArgs {
  fifo: string;
  out: string;
  mkfifo: boolean;
  timeoutSeconds?: number;
  defaultTimeoutSeconds: number;
  pollMs: number;
  reportMs: number;
}

function parseArgs(argv: string[]): CliArgs {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string): number | undefined => {
    const v = value(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} needs a positive number, got ${v}`);
    return n;
  };
  const fifo = value('--fifo');
  const out = value('--out');
  if (!fifo || !out) throw new Error('usage: fake-device --fifo PATH --out REPORT.json [--mkfifo] [--timeout N] [--default-timeout N] [--poll-ms N] [--report-ms N]');
  return {
    fifo,
    out,
    mkfifo: argv.includes('--mkfifo'),
    timeoutSeconds: num('--timeout'),
    defaultTimeoutSeconds: num('--default-timeout') ?? 60,
    pollMs: num('--poll-ms') ?? 20,
    reportMs: num('--report-ms') ?? 250,
  };
}

function writeReport(path: string, report: FakeWatchdogReport): void {
  const tmp = `${path}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(report, null, 2) + '\n');
  fs.renameSync(tmp, path);
}

function main(argv: string[]): void {
  const args = parseArgs(argv);
  if (args.mkfifo) ensureFifo(args.fifo);
  const startedAtMs = Date.now();
  let reader: FakeWatchdogReader | null = null;
  const report = () => {
    if (!reader) return;
    const analysis = reader.analyze({ timeoutSeconds: args.timeoutSeconds, defaultTimeoutSeconds: args.defaultTimeoutSeconds });
    writeReport(args.out, { fifo: args.fifo, startedAtMs, updatedAtMs: Date.now(), analysis, events: reader.events.slice(-1000) });
  };
  reader = new FakeWatchdogReader({ path: args.fifo, pollMs: args.pollMs, onEvents: report });
  report();
  setInterval(report, args.reportMs);
  process.stdout.write(JSON.stringify({ ready: true, fifo: args.fifo, out: args.out, pid: process.pid }) + '\n');
  const finish = () => {
    reader?.stop();
    report();
    process.exit(0);
  };
  process.once('SIGTERM', finish);
  process.once('SIGINT', finish);
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return import.meta.url === pathToFileURL(fs.realpathSync(entry)).href;
  } catch {
    // argv[1] does not resolve: this module was imported, not run.
    return false;
  }
}

if (isEntryPoint()) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`fake-device: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
}

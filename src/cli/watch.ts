/**
 * `-W/--watch [SECONDS]` for list, topology and history: redraw every few seconds until Ctrl-C,
 * clearing the screen first on a terminal (patronictl's behaviour). A failed refresh is shown and
 * the loop goes on: an operator watching a failover wants the next refresh, not an exit.
 */

export const DEFAULT_WATCH_SECONDS = 2;

/**
 * oclif flags cannot have an optional value; `-W` / `--watch` without a number gets the default
 * here, before parsing, so `hactl list -W`, `-W 5` and `--watch=0.5` all work.
 */
export function normalizeWatchArgv(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    out.push(a);
    if (a === '--') {
      out.push(...argv.slice(i + 1));
      break;
    }
    if ((a === '-W' || a === '--watch') && !/^\d+(\.\d+)?$/.test(argv[i + 1] ?? '')) out.push(String(DEFAULT_WATCH_SECONDS));
  }
  return out;
}

export interface WatchIo {
  write(text: string): void;
  isTTY: boolean;
  sleep(ms: number): Promise<void>;
  /** Stop condition (tests); the CLI runs until interrupted. */
  shouldStop?: () => boolean;
}

export async function runWatch(intervalSeconds: number, frame: () => Promise<string>, io: WatchIo): Promise<void> {
  for (;;) {
    let text: string;
    try {
      text = await frame();
    } catch (err) {
      text = `Error: ${(err as Error).message}`;
    }
    io.write((io.isTTY ? '\x1b[H\x1b[2J' : '') + text + '\n');
    if (io.shouldStop?.()) return;
    await io.sleep(intervalSeconds * 1000);
  }
}

// The machine's floor beside each benchmark figure: `node -e 0`, median of 5 (anything this machine
// starts costs at least that), and the load as `uptime` prints it.
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export function nodeFloorMs(): number {
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    execFileSync(process.execPath, ['-e', '0']);
    xs.push(performance.now() - t);
  }
  return xs.sort((a, b) => a - b)[2]!;
}

export const uptime = (): string => execFileSync('uptime', { encoding: 'utf8' }).trim();

/**
 * Cost of one read of the lease holder's clock (src/agent/fence/holder-clock.ts: CLOCK_BOOTTIME
 * through koffi) beside the clocks Node reads natively (process.hrtime.bigint(), performance.now()),
 * and the /proc/uptime fallback. The HA loop reads it a few times per cycle and the fence once per
 * HOLDER_RECHECK_MS, so anything under a few µs is free; this checks that claim.
 *
 *   node --import tsx bench/fence/holder-clock.ts [-- --reads 200000 --trials 10]
 *
 * Prints one JSON line per clock (median and max ns per read over the trials) and a Markdown table.
 */
import fs from 'node:fs';
import { holderClockNs, holderClockSource } from '../../src/agent/fence/holder-clock.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const reads = arg('reads', 200_000);
const trials = arg('trials', 10);

const clocks: Array<[string, () => unknown, number]> = [
  [`holder clock (${holderClockSource()})`, holderClockNs, reads],
  ['process.hrtime.bigint()', () => process.hrtime.bigint(), reads],
  ['performance.now()', () => performance.now(), reads],
  ['/proc/uptime (fallback)', () => fs.readFileSync('/proc/uptime', 'latin1'), Math.max(1, Math.floor(reads / 20))],
];

const rows: string[] = [];
for (const [name, read, n] of clocks) {
  const perRead: number[] = [];
  for (let t = 0; t < trials; t++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) read();
    perRead.push(Number(process.hrtime.bigint() - start) / n);
  }
  perRead.sort((a, b) => a - b);
  const median = perRead[Math.floor(perRead.length / 2)]!;
  const max = perRead.at(-1)!;
  console.log(JSON.stringify({ clock: name, trials, readsPerTrial: n, medianNs: Math.round(median), maxNs: Math.round(max) }));
  rows.push(`| ${name} | ${Math.round(median)} | ${Math.round(max)} |`);
}
console.log(['| clock | median ns/read | max ns/read |', '|---|---|---|', ...rows].join('\n'));

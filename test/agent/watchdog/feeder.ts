// A stand-in for a leader agent's use of the watchdog, run as its own process by
// fake-device.test.ts so it can be SIGSTOPped like a frozen agent:
//   node --import tsx test/agent/watchdog/feeder.ts --fifo PATH --ttl 3 --margin 2 --loop-ms 200
// Activates a required `testing`-driver watchdog, feeds it every loop, magic-closes on SIGTERM.
import { Watchdog } from '../../../src/agent/watchdog/index.js';

const arg = (name: string, fallback?: string): string => {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`missing ${name}`);
  return v;
};

const loopMs = Number(arg('--loop-ms', '200'));
const log = (level: string) => (message: string) => process.stderr.write(`${level} ${message}\n`);
const watchdog = new Watchdog(
  {
    mode: 'required',
    device: arg('--fifo'),
    driver: 'testing',
    ttlSeconds: Number(arg('--ttl', '3')),
    safetyMarginSeconds: Number(arg('--margin', '2')),
    loopWaitSeconds: loopMs / 1000,
  },
  { logger: { debug: log('DEBUG'), info: log('INFO'), warn: log('WARNING'), error: log('ERROR') } },
);

const activation = await watchdog.activate();
if (!activation.ok) {
  process.stderr.write(`${activation.reason}\n`);
  process.exit(3);
}
process.stdout.write('feeding\n');
setInterval(() => watchdog.keepalive(), loopMs);
process.once('SIGTERM', () => {
  watchdog.disable();
  process.exit(0);
});

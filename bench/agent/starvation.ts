/**
 * Needless failovers under CPU starvation (issue 17, "short leases, measured honestly"): a healthy
 * three-member cluster on the embedded Raft store at short timings, while a CPU hog at the same
 * priority (stress-ng, one worker per core and then some) keeps both cores busy for the whole window.
 * Nobody dies, so every promotion in the window is a needless failover. Counted from the agents' own
 * log lines ("promoted self to leader"), cross-checked by polling which member is writable.
 *
 *   npm run build && node --import tsx bench/agent/starvation.ts [-- --minutes 10 --ttl 5 --loop-wait 1 --retry-timeout 2 --hog 4]
 *
 * Prints the figures as a Markdown line for bench/RESULTS.md, with the machine floor (`node -e 0`) and
 * the load (`uptime`) before and at the end of the window.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { nodeFloorMs, uptime } from '../floor.js';
import { TestCluster } from '../../test/helpers/cluster.js';

interface Args {
  minutes: number;
  timing: { ttl: number; loop_wait: number; retry_timeout: number };
  hog: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { minutes: 10, timing: { ttl: 5, loop_wait: 1, retry_timeout: 2 }, hog: 4 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--minutes') args.minutes = Number(argv[++i]);
    else if (a === '--ttl') args.timing.ttl = Number(argv[++i]);
    else if (a === '--loop-wait') args.timing.loop_wait = Number(argv[++i]);
    else if (a === '--retry-timeout') args.timing.retry_timeout = Number(argv[++i]);
    else if (a === '--hog') args.hog = Number(argv[++i]);
  }
  return args;
}

const PROMOTED = /promoted self to leader/g;

/** Promotions each agent has logged so far. */
function promotions(cluster: TestCluster): number {
  return cluster.nodes.reduce((sum, n) => sum + (cluster.history(n.name).match(PROMOTED)?.length ?? 0), 0);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const floor = nodeFloorMs();
  const loadBefore = uptime();
  let cluster: TestCluster | null = null;
  let hog: ChildProcess | null = null;
  try {
    cluster = await TestCluster.create({ timing: args.timing, scope: `starve-${process.pid}` });
    cluster.startAll();
    const first = await cluster.waitForHealthy(undefined, 240_000);
    const before = promotions(cluster);
    // Same priority as the agents (no nice): the hog competes with them on equal terms.
    hog = spawn('stress-ng', ['--cpu', String(args.hog), '--timeout', `${args.minutes * 60 + 30}s`], { stdio: 'ignore' });
    const started = new Date();
    const end = Date.now() + args.minutes * 60_000;
    let polls = 0;
    let noPrimary = 0;
    let twoPrimaries = 0;
    const leaders = new Set<string>([first]);
    let last = first;
    let changes = 0;
    while (Date.now() < end) {
      const primaries = await cluster.primaries().catch(() => [] as string[]);
      polls++;
      if (primaries.length === 0) noPrimary++;
      if (primaries.length > 1) twoPrimaries++;
      if (primaries.length === 1 && primaries[0] !== last) {
        changes++;
        last = primaries[0]!;
        leaders.add(last);
      }
      await sleep(1000);
    }
    const loadAtEnd = uptime();
    const promoted = promotions(cluster) - before;
    const perHour = (promoted * 60) / args.minutes;
    process.stdout.write(
      [
        '',
        `Measured ${started.toISOString()}, ${args.minutes} min, ttl ${args.timing.ttl} / loop_wait ${args.timing.loop_wait} / retry_timeout ${args.timing.retry_timeout}, ` +
          `hog \`stress-ng --cpu ${args.hog}\` at the agents' priority on ${execFileSync('nproc', { encoding: 'utf8' }).trim()} cores; \`node -e 0\` ${floor.toFixed(0)} ms (before the hog); ` +
          `load before: \`${loadBefore}\`, at the end: \`${loadAtEnd}\`.`,
        '',
        `| promotions logged (all needless) | per hour | writable member changed (1 s polls) | polls with no writable member | polls with two | members that led |`,
        '|---|---|---|---|---|---|',
        `| ${promoted} | ${perHour.toFixed(1)} | ${changes} | ${noPrimary}/${polls} | ${twoPrimaries}/${polls} | ${[...leaders].join(', ')} |`,
        '',
      ].join('\n'),
    );
  } catch (err) {
    process.stderr.write(`benchmark failed: ${(err as Error).stack}\n`);
    process.exitCode = 1;
  } finally {
    hog?.kill('SIGTERM'); // stress-ng stops its workers on SIGTERM (and all stop at --timeout anyway)
    await cluster?.destroy().catch((err: Error) => process.stderr.write(`teardown: ${err.message}\n`));
  }
}

await main();

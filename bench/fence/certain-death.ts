/**
 * Certain-death benchmark (issue 17): how long from a primary's death to the first commit on a
 * primary, when the death is certain (the key is released at once) and when it is not (a frozen
 * host waits for the lease). Three members on the embedded Raft store, a writer committing every
 * 20 ms to every member directly; Patroni's figures for the same kill come from
 * ../shared/anchors/patroni/RESULTS.md (section 4), run on this machine kind.
 *
 *   npm run build && node --import tsx bench/fence/certain-death.ts [-- --runs 10 --deaths kill-agent-and-postmaster,kill-postmaster,freeze-host --ttl 30 --loop-wait 10 --retry-timeout 10]
 *
 * Deaths: kill-agent-and-postmaster (kill -9 of both; the fence releases the key), kill-postmaster
 * (the agent restarts PostgreSQL in place), kill-postmaster-unreadable (restart fails; the agent gives
 * the key up), kill-agent (nothing changes by default), freeze-host (SIGSTOP of agent, fence and
 * PostgreSQL until a new primary commits; must wait for the lease). One cluster for all runs (each
 * run waits for three healthy members first). Prints JSON lines and a Markdown table for
 * bench/RESULTS.md, with the machine floor (`node -e 0`) and the load (`uptime`).
 */
import { nodeFloorMs, uptime } from '../floor.js';
import { TestCluster } from '../../test/helpers/cluster.js';
import { agentLogs } from '../../test/e2e/fault-fixture.js';
import { describeDeath, runDeath, type Death, type DeathResult } from '../../test/e2e/certain-death-scenarios.js';

interface Args {
  runs: number;
  deaths: Death[];
  timing: { ttl: number; loop_wait: number; retry_timeout: number };
}

function parseArgs(argv: string[]): Args {
  const args: Args = { runs: 10, deaths: ['kill-agent-and-postmaster', 'kill-postmaster', 'freeze-host'], timing: { ttl: 30, loop_wait: 10, retry_timeout: 10 } };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') args.runs = Number(argv[++i]);
    else if (a === '--deaths') args.deaths = argv[++i]!.split(',') as Death[];
    else if (a === '--ttl') args.timing.ttl = Number(argv[++i]);
    else if (a === '--loop-wait') args.timing.loop_wait = Number(argv[++i]);
    else if (a === '--retry-timeout') args.timing.retry_timeout = Number(argv[++i]);
  }
  return args;
}

const TITLES: Record<Death, string> = {
  'kill-agent-and-postmaster': 'kill -9 agent + postmaster',
  'kill-postmaster': 'kill -9 postmaster alone (restart in place)',
  'kill-postmaster-unreadable': 'kill -9 postmaster alone, data dir unreadable',
  'kill-agent': 'kill -9 agent alone (default: no failover)',
  'freeze-host': 'frozen host (SIGSTOP agent, fence, PostgreSQL)',
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function range(xs: number[], digits: number): string {
  if (xs.length === 0) return '–';
  return `**${median(xs).toFixed(digits)}** (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
}


async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const results: DeathResult[] = [];
  const started = new Date();
  const loadBefore = uptime();
  const floor = nodeFloorMs();
  let cluster: TestCluster | null = null;
  try {
    cluster = await TestCluster.create({ timing: args.timing });
    cluster.startAll();
    await cluster.waitForHealthy(undefined, 240_000);
    for (const death of args.deaths) {
      for (let run = 1; run <= args.runs; run++) {
        const r = await runDeath(cluster, death, { log: (l) => process.stderr.write(`  ${l}\n`) });
        results.push(r);
        process.stdout.write(JSON.stringify({ run, ...r, fenceLog: undefined, analysis: { ...r.analysis, missingSample: undefined } }) + '\n');
        process.stderr.write(`${death} #${run}: ${describeDeath(r)}\n`);
      }
    }
  } catch (err) {
    process.stderr.write(`benchmark failed: ${(err as Error).stack}\n${cluster ? agentLogs(cluster) : ''}\n`);
    process.exitCode = 1;
  } finally {
    await cluster?.destroy().catch((err: Error) => process.stderr.write(`teardown: ${err.message}\n`));
  }
  const loadAfter = uptime();
  const rows = args.deaths.map((death) => {
    const rs = results.filter((r) => r.death === death);
    const times = rs.filter((r) => r.timeToFirstCommitMs !== null).map((r) => r.timeToFirstCommitMs! / 1000);
    return (
      `| ${TITLES[death]} | ${rs.length} | ${range(times, 2)} | ${rs.filter((r) => r.failedOver).length}/${rs.length} | ` +
      `${rs.filter((r) => r.fenceReleased).length}/${rs.length} | ${rs.reduce((s, r) => s + r.analysis.splitBrainWindows.length, 0)} | ` +
      `${rs.map((r) => r.analysis.missingAcked).join(', ')} | ${rs.filter((r) => r.rejoined).length}/${rs.length} |`
    );
  });
  process.stdout.write(
    [
      '',
      `Measured ${started.toISOString()}, ttl ${args.timing.ttl} / loop_wait ${args.timing.loop_wait} / retry_timeout ${args.timing.retry_timeout}, writer every 20 ms on every member; \`node -e 0\` ${floor.toFixed(0)} ms; load before: \`${loadBefore}\`, after: \`${loadAfter}\`.`,
      '',
      '| death | runs | event → first commit, s, median (min–max) | failed over | fence released the key | split-brain windows | acked commits lost per run | old member back |',
      '|---|---|---|---|---|---|---|---|',
      ...rows,
      '',
    ].join('\n'),
  );
}

await main();

/**
 * Self-fencing benchmark (issue 9): the three faults that leave a primary without a working agent,
 * at Patroni's aggressive settings (ttl 10 / loop_wait 2 / retry_timeout 3), with a writer
 * committing every 50 ms to every member directly — the setup of the Patroni measurement in issue
 * 9 (SIGSTOP of the leader's agent for 25 s).
 *
 *   npm run build && node --import tsx bench/fence/run.ts [-- --runs 3 --hold 25 --faults sigstop,kill-agent,block-ports] [--fence-off]
 *
 * Per run: split-brain seconds (periods in which two members acknowledged commits), acknowledged
 * commits lost (acked, then absent on the new primary after the old one rejoined), time from the
 * fault to the first commit acknowledged by a new primary, how late the fence fired after its
 * deadline. One cluster for all runs (each run waits for three healthy members first); members in
 * network namespaces (root) so the port fault is a real iptables DROP. Prints JSON lines and a
 * Markdown table for bench/RESULTS.md.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { defaultFenceDir } from '../../src/agent/fence/settings.js';
import { agentLogs, createFaultCluster, destroyFaultCluster, netSupport, type FaultEnv } from '../../test/e2e/fault-fixture.js';
import { describeRun, FAULT_TITLES, runFault, type FaultRunResult, type FenceFault } from '../../test/e2e/fencing-faults.js';

interface Args {
  runs: number;
  holdSeconds: number;
  faults: FenceFault[];
  /** `fence: {mode: off}` on every member: the baseline without self-fencing. */
  fenceOff: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { runs: 3, holdSeconds: 25, faults: ['sigstop', 'kill-agent', 'block-ports'], fenceOff: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') args.runs = Number(argv[++i]);
    else if (a === '--hold') args.holdSeconds = Number(argv[++i]);
    else if (a === '--faults') args.faults = argv[++i]!.split(',') as FenceFault[];
    else if (a === '--fence-off') args.fenceOff = true;
  }
  return args;
}

const TIMING = { ttl: 10, loop_wait: 2, retry_timeout: 3 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function range(xs: number[], digits: number): string {
  if (xs.length === 0) return '–';
  return `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const faults = args.faults.filter((f) => f !== 'block-ports' || netSupport.ok);
  if (faults.length < args.faults.length) process.stderr.write(`skipping block-ports: ${netSupport.ok ? '' : netSupport.reason}\n`);
  const env: Partial<FaultEnv> = {};
  const results: FaultRunResult[] = [];
  const started = new Date();
  try {
    Object.assign(env, await createFaultCluster({ timing: TIMING, extraYaml: args.fenceOff ? () => 'fence:\n  mode: off\n' : undefined }));
    const cluster = env.cluster!;
    cluster.startAll();
    await cluster.waitForHealthy(undefined, 120_000);
    for (const fault of faults) {
      for (let run = 1; run <= args.runs; run++) {
        const r = await runFault(cluster, env.network, fault, { holdMs: args.holdSeconds * 1000, log: (l) => process.stderr.write(`  ${l}\n`) });
        results.push(r);
        process.stdout.write(JSON.stringify({ run, ...r, analysis: { ...r.analysis, missingSample: undefined } }) + '\n');
        process.stderr.write(`${fault} #${run}: ${describeRun(r)}\n`);
      }
    }
  } catch (err) {
    process.stderr.write(`benchmark failed: ${(err as Error).stack}\n${env.cluster ? agentLogs(env.cluster) : ''}\n`);
    process.exitCode = 1;
  } finally {
    for (const node of env.cluster?.nodes ?? []) {
      try {
        process.kill(Number(readFileSync(path.join(defaultFenceDir(node.dataDir), 'fence.pid'), 'utf8').trim()), 'SIGKILL');
      } catch {
        // none
      }
    }
    await destroyFaultCluster(env);
  }

  const rows = faults.map((fault) => {
    const rs = results.filter((r) => r.fault === fault);
    const kills = rs.flatMap((r) => r.fenceKills);
    return (
      `| ${FAULT_TITLES[fault]} | ${rs.length} | ${range(rs.map((r) => r.splitBrainMs / 1000), 2)} | ` +
      `${rs.map((r) => `${r.lostAcked} of ${r.acked}`).join(', ')} | ${range(rs.filter((r) => r.timeToNewPrimaryMs !== null).map((r) => r.timeToNewPrimaryMs! / 1000), 2)} | ` +
      `${range(rs.filter((r) => r.oldPrimaryLastAckMs !== null).map((r) => r.oldPrimaryLastAckMs! / 1000), 2)} | ` +
      `${kills.length > 0 ? `${kills.length} (${range(kills, 1)} ms late)` : '0'} | ${rs.filter((r) => r.rejoinedAsReplica).length}/${rs.length} |`
    );
  });
  process.stdout.write(
    [
      '',
      `Measured ${started.toISOString()}${args.fenceOff ? ' with `fence: {mode: off}`' : ''}, ttl ${TIMING.ttl} / loop_wait ${TIMING.loop_wait} / retry_timeout ${TIMING.retry_timeout}, fault held ${args.holdSeconds} s, writer every 50 ms on every member.`,
      '',
      '| fault | runs | split-brain s, median (min–max) | acked commits lost (of acked) | fault → new writable primary, s | fault → old primary\'s last ack, s | fence kills (lateness) | old primary rejoined as replica |',
      '|---|---|---|---|---|---|---|---|',
      ...rows,
      '',
    ].join('\n'),
  );
}

await main();

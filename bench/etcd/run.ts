/**
 * Unplanned failover time on the embedded Raft store and on etcd v3 (issue 8), side by side.
 *
 *   npm run build && node --import tsx bench/etcd/run.ts [--trials 5] [--store raft|etcd] [--timing default|fast] [--verbose]
 *
 * Per (store, timing): three real agents with PostgreSQL on 127.0.0.1 (the e2e fixture,
 * test/helpers/cluster.ts); for etcd a 3-member etcd beside them with etcd's default Raft timing
 * (heartbeat 100 ms, election 1000 ms). A writer INSERTs every 20 ms through a libpq-style
 * multi-host conninfo with target_session_attrs=read-write (test/helpers/writer.ts). A trial waits
 * for a healthy cluster, then a random fraction of loop_wait (so the kill falls anywhere in the
 * renewal cycle), then kill -9s the leader's agent and postmaster; failover time = kill → first
 * commit acknowledged by another member. The killed member is restarted and rejoins before the
 * next trial. With Raft the kill also takes down one of the three Raft members (often the Raft
 * leader); etcd runs beside the agents and loses nothing.
 * Prints every trial and a Markdown table for bench/RESULTS.md.
 */
import { EtcdCluster } from '../../test/helpers/etcd.js';
import { TestCluster, type ClusterTiming } from '../../test/helpers/cluster.js';
import { sleep, waitUntil } from '../../test/helpers/wait.js';
import { Writer, multiHostConninfo, writerTargets } from '../../test/helpers/writer.js';

type Store = 'raft' | 'etcd';

const TIMINGS: Record<string, ClusterTiming> = {
  default: { ttl: 10, loop_wait: 2, retry_timeout: 3 },
  fast: { ttl: 6, loop_wait: 1, retry_timeout: 2 },
};

interface Args {
  trials: number;
  stores: Store[];
  timings: string[];
  /** Print the new primary's agent log from the kill to its first commit. */
  verbose: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { trials: 5, stores: ['raft', 'etcd'], timings: Object.keys(TIMINGS), verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--trials') a.trials = Number(argv[++i]);
    else if (k === '--store') a.stores = [argv[++i] as Store];
    else if (k === '--timing') a.timings = [argv[++i]!];
    else if (k === '--verbose') a.verbose = true;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!(a.trials >= 1)) throw new Error('--trials must be at least 1');
  for (const s of a.stores) if (s !== 'raft' && s !== 'etcd') throw new Error(`--store must be raft or etcd, got ${s}`);
  for (const t of a.timings) if (!TIMINGS[t]) throw new Error(`--timing must be one of ${Object.keys(TIMINGS).join(', ')}, got ${t}`);
  return a;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const log = (line: string): void => void process.stderr.write(`${line}\n`);

/** Failover times (ms) of `trials` kill -9s of the leader on one cluster. */
async function measure(store: Store, timing: ClusterTiming, trials: number, verbose: boolean): Promise<number[]> {
  const etcd = store === 'etcd' ? await EtcdCluster.start({ members: 3, heartbeatMs: 100, electionTimeoutMs: 1000 }) : null;
  let cluster: TestCluster | null = null;
  let writer: Writer | null = null;
  try {
    cluster = await TestCluster.create({ size: 3, timing, ...(etcd ? { store: { etcd3: { hosts: etcd.endpoints } } } : {}) });
    const c = cluster;
    c.startAll();
    let leader = await c.waitForHealthy(undefined, 120_000);
    const targets = writerTargets(c.nodes);
    log(`  writer: ${multiHostConninfo(targets)}, every 20 ms`);
    writer = new Writer({ mode: 'multi-host', targets, intervalMs: 20, connectTimeoutMs: 1000, statementTimeoutMs: 2000, run: `bench-${store}` });
    await writer.ensureTable();
    writer.start();
    const w = writer;
    const times: number[] = [];
    for (let trial = 1; trial <= trials; trial++) {
      leader = await c.waitForHealthy(undefined, 120_000);
      // A member that just rejoined needs a cycle or two to publish itself as a healthy candidate.
      await sleep(2 * timing.loop_wait * 1000);
      await waitUntil(() => w.acks.at(-1)?.member === leader && Date.now() - w.acks.at(-1)!.ackedAtMs < 200, { timeoutMs: 10_000, what: `writes on ${leader}` });
      await sleep(Math.random() * timing.loop_wait * 1000);
      const marks = new Map(c.nodes.map((n) => [n.name, c.output(n.name).length]));
      const killedAt = Date.now();
      await c.killHard(leader);
      const first = await waitUntil(() => w.acks.find((a) => a.ackedAtMs > killedAt && a.member !== leader), {
        timeoutMs: 120_000,
        intervalMs: 10,
        what: 'a commit on a new primary',
      });
      times.push(first.ackedAtMs - killedAt);
      log(`  ${store} ttl ${timing.ttl}: trial ${trial}: ${leader} killed, first commit on ${first.member} after ${first.ackedAtMs - killedAt} ms`);
      if (verbose) log(`  --- ${first.member}, killed at ${new Date(killedAt).toISOString()}\n${c.output(first.member).slice(marks.get(first.member))}`);
      c.startAgent(leader);
    }
    return times;
  } catch (err) {
    const tails = cluster ? cluster.nodes.map((n) => `--- ${n.name}\n${cluster!.output(n.name).split('\n').slice(-20).join('\n')}`).join('\n') : '';
    throw new Error(`${store}, ttl ${timing.ttl}: ${(err as Error).message}\n${tails}`, { cause: err });
  } finally {
    await writer?.stop().catch(() => {});
    await cluster?.destroy();
    await etcd?.stop();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rows: string[] = [];
  const raw: Record<string, number[]> = {};
  for (const name of args.timings) {
    const timing = TIMINGS[name]!;
    const cells: string[] = [];
    for (const store of args.stores) {
      log(`${store}, ttl ${timing.ttl} / loop_wait ${timing.loop_wait} / retry_timeout ${timing.retry_timeout}, ${args.trials} trials`);
      const times = await measure(store, timing, args.trials, args.verbose);
      raw[`${store} ttl ${timing.ttl}`] = times;
      cells.push(`${Math.round(median(times))} / ${Math.max(...times)}`);
    }
    rows.push(`| ttl ${timing.ttl} / loop_wait ${timing.loop_wait} / retry_timeout ${timing.retry_timeout} | ${cells.join(' | ')} |`);
  }
  console.log(JSON.stringify(raw));
  console.log(`| kill -9 of leader agent + postmaster → first commit on the new primary, median / max (ms), ${args.trials} trials | ${args.stores.join(' | ')} |`);
  console.log(`|---|${args.stores.map(() => '---:').join('|')}|`);
  for (const r of rows) console.log(r);
}

await main();

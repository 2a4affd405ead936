// `hactl demo` from start to Ctrl-C: create, start, wait for one leader and N−1 streaming
// replicas, print how to connect, redraw the topology until SIGINT/SIGTERM, stop cleanly.
import type { ChalkInstance } from 'chalk';
import { makeColors, colorsEnabled } from '../cli/colors.js';
import { renderCluster } from '../cli/cluster-table.js';
import { ClusterClient } from '../client/cluster-client.js';
import { connectionStrings } from './config.js';
import { DemoError, LocalCluster } from './local-cluster.js';

export interface DemoOptions {
  size: number;
  dir?: string;
  keep: boolean;
  intervalSeconds: number;
  timeoutSeconds: number;
  exitAfterReady: boolean;
  binPath: string;
  /** The CLI's name, for the hints (`hactl`). */
  bin: string;
  out?: (text: string) => void;
  err?: (text: string) => void;
}

/** Ctrl-C / SIGTERM as a promise, so every wait below can be cut short. */
function interrupted(): { promise: Promise<NodeJS.Signals>; fired: () => boolean; dispose: () => void } {
  let fired = false;
  let resolveFn: (s: NodeJS.Signals) => void = () => {};
  const promise = new Promise<NodeJS.Signals>((resolve) => (resolveFn = resolve));
  const handler = (sig: NodeJS.Signals) => {
    fired = true;
    resolveFn(sig);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    promise,
    fired: () => fired,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function connectHelp(cluster: LocalCluster, bin: string, c: ChalkInstance): string {
  const cs = connectionStrings(cluster.members);
  const lines = [
    c.bold('Connect:'),
    `  read-write (the primary, wherever it is):`,
    `    psql "${cs.readWrite}"`,
    `  read-only (a replica):`,
    `    psql "${cs.readOnly}"`,
    ...cs.perMember.map((p) => `  ${p.name}: ${p.url}`),
    c.bold('Operate (another terminal):'),
    `  export HACTL_CONFIG=${cluster.members[0]!.configPath}`,
    `  ${bin} list        ${bin} switchover --force        ${bin} topology -W`,
    `  REST: ${cluster.apiUrls().map((u) => `${u}/patroni`).join('  ')}`,
    `Agent logs: ${cluster.dir}/node*/agent.log`,
  ];
  return lines.join('\n');
}

/** Until every member in `streaming` shows as streaming in GET /cluster, or `withinMs` passes. */
async function keysAgree(client: ClusterClient, streaming: readonly string[], withinMs: number): Promise<void> {
  const until = performance.now() + withinMs;
  for (let attempt = 0; attempt < 100 && performance.now() < until; attempt++) {
    const snap = await client.cluster().catch(() => null);
    const shown = new Set(snap?.cluster.members.filter((m) => m.state === 'streaming').map((m) => m.name) ?? []);
    if (streaming.every((n) => shown.has(n))) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const out = options.out ?? ((t: string) => void process.stdout.write(t));
  const err = options.err ?? ((t: string) => void process.stderr.write(t));
  const c = makeColors(colorsEnabled());
  const startedAt = performance.now();
  const signal = interrupted();
  let cluster: LocalCluster | null = null;
  try {
    cluster = await LocalCluster.create({ size: options.size, dir: options.dir, binPath: options.binPath });
    const t = cluster.timing;
    out(`Starting ${options.size} member${options.size === 1 ? '' : 's'} in ${cluster.dir} (embedded Raft; ttl ${t.ttl} s, loop_wait ${t.loop_wait} s)\n`);
    for (const m of cluster.members) out(`  ${m.name}: PostgreSQL ${m.host}:${m.pgPort}  REST ${m.host}:${m.apiPort}  Raft ${m.host}:${m.raftPort}\n`);
    cluster.start();

    const ready = await Promise.race([cluster.waitReady(options.timeoutSeconds * 1000), signal.promise]);
    if (typeof ready === 'string') {
      out(`\n${ready}: stopping before the cluster was ready…\n`);
      return await stopCluster(cluster, options, out, 130);
    }
    const elapsed = performance.now() - startedAt;
    const replicas = ready.streaming.length > 0 ? `; ${ready.streaming.join(', ')} stream${ready.streaming.length === 1 ? 's' : ''} from it` : '';
    out(`\n${c.green('Cluster ready')} in ${seconds(elapsed)}: ${ready.leader} is the leader${replicas}.\n`);

    const client = new ClusterClient({ agents: cluster.apiUrls(), readTimeoutMs: 1000 });
    const topology = async (): Promise<string> => {
      try {
        const snap = await client.cluster();
        const r = renderCluster(snap, { format: 'pretty', topology: true, colors: c });
        return 'text' in r ? r.text : '';
      } catch (e) {
        return `(topology unavailable: ${(e as Error).message})`;
      }
    };
    // The table comes from the member keys, which each agent rewrites once per loop_wait: wait (a
    // few loops at most) until they say what "ready" just said, so the first table does not show
    // a streaming replica as "creating replica".
    await keysAgree(client, ready.streaming, 3 * t.loop_wait * 1000);
    const help = connectHelp(cluster, options.bin, c);
    out(`\n${await topology()}\n\n${help}\n`);
    if (options.exitAfterReady) return await stopCluster(cluster, options, out, 0);

    out(`\nPress Ctrl-C to stop the cluster${options.keep ? ' (files kept)' : ' and remove its files'}.\n`);
    const tty = process.stdout.isTTY === true;
    let previous = '';
    for (;;) {
      const sig = await Promise.race([new Promise<null>((r) => setTimeout(() => r(null), options.intervalSeconds * 1000)), signal.promise]);
      if (sig) {
        out(`\n${sig}: stopping the cluster…\n`);
        return await stopCluster(cluster, options, out, 0);
      }
      const exits = cluster.unexpectedExits().map((e) => c.red(`agent ${e.name} exited (${e.code}); see ${cluster!.dir}/${e.name}/agent.log`));
      const table = [await topology(), ...exits].join('\n');
      if (tty) {
        out(`\x1b[H\x1b[2J${new Date().toLocaleTimeString()}  ${cluster.scope}: ${options.size} members, Ctrl-C to stop\n\n${table}\n\n${help}\n`);
      } else if (table !== previous) {
        out(`\n${new Date().toISOString()}\n${table}\n`);
      }
      previous = table;
    }
  } catch (e) {
    const message = e instanceof DemoError ? e.message : (e as Error).stack ?? String(e);
    err(`Error: ${message}\n`);
    if (cluster) {
      err(`${await cluster.logTails()}\n`);
      await stopCluster(cluster, options, out, 1);
    }
    return 1;
  } finally {
    signal.dispose();
  }
}

async function stopCluster(cluster: LocalCluster, options: DemoOptions, out: (t: string) => void, code: number): Promise<number> {
  const t0 = performance.now();
  await cluster.stop({ keep: options.keep });
  out(`Stopped ${cluster.members.length} agent${cluster.members.length === 1 ? '' : 's'} in ${seconds(performance.now() - t0)}; ${options.keep ? `files kept in ${cluster.dir}` : `removed ${cluster.dir}`}.\n`);
  return code;
}

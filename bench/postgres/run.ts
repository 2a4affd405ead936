// Wall times of the PostgreSQL control layer on the real binaries (issue 3):
//   bootstrap; clone of a ~100 MB database (pgbench -i -s 6) with and without `checkpoint: fast`;
//   promote to the first accepted write; pg_rewind of a small divergence versus a full reinit.
// Run by hand: node --import tsx bench/postgres/run.ts [runs]   (default 3 runs, medians printed)
import os from 'node:os';
import path from 'node:path';
import {
  cleanupPostgres,
  registerServer,
  startPrimary,
  tempDirForPostgres,
  testContext,
  testOptions,
  type TestServer,
} from '../../test/helpers/postgres.js';
import { bootstrap } from '../../src/postgres/bootstrap.js';
import { withConnection } from '../../src/postgres/connection.js';
import { runPg } from '../../src/postgres/exec.js';
import { start, stop } from '../../src/postgres/lifecycle.js';
import { checkpointAfterPromote, promote } from '../../src/postgres/promote.js';
import { reinit } from '../../src/postgres/reinit.js';
import { createReplica } from '../../src/postgres/replica.js';
import { rewind } from '../../src/postgres/rewind.js';
import type { PgContext, PostgresOptions } from '../../src/postgres/types.js';

const RUNS = Math.max(3, Number(process.argv[2] ?? 3));
const PG_HBA = [
  'local all all trust',
  'host all postgres 127.0.0.1/32 trust',
  'host replication replicator 127.0.0.1/32 scram-sha-256',
  'host all rewinder 127.0.0.1/32 scram-sha-256',
];

const results = new Map<string, number[]>();
function record(name: string, ms: number): void {
  results.set(name, [...(results.get(name) ?? []), ms]);
  console.error(`  ${name}: ${ms.toFixed(0)} ms`);
}
async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const began = performance.now();
  const value = await fn();
  record(name, performance.now() - began);
  return value;
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function sql(ctx: PgContext, text: string): Promise<void> {
  await withConnection(ctx, (c) => c.query(text));
}

function portOf(ctx: PgContext): number {
  return Number(ctx.options.listen.split(':').pop());
}

async function newNode(name: string, overrides: Partial<PostgresOptions> = {}): Promise<PgContext> {
  const base = await tempDirForPostgres('hactl-bench-');
  const ctx = await testContext(await testOptions(base, { name, pg_hba: PG_HBA, ...overrides }));
  registerServer(ctx);
  return ctx;
}

async function pgbenchInit(server: TestServer, checkpoint = true): Promise<void> {
  const pgbench = path.join(server.ctx.binaries.binDir, 'pgbench');
  await runPg(server.ctx, 'psql', ['-h', server.ctx.options.socketDir!, '-p', String(server.port), '-U', 'postgres', '-c', 'CREATE DATABASE bench'], {
    timeoutMs: 60_000,
  });
  const { run } = await import('../../src/postgres/exec.js');
  await run(pgbench, ['-i', '-s', '6', '-q', '-h', server.ctx.options.socketDir!, '-p', String(server.port), '-U', 'postgres', 'bench'], {
    user: server.ctx.user,
    timeoutMs: 300_000,
  });
  // The clone is measured from a quiet database: without this, the non-fast variant waits for a spread
  // checkpoint of the ~100 MB just loaded (checkpoint_timeout × checkpoint_completion_target ≈ 270 s).
  if (checkpoint) await sql(server.ctx, 'CHECKPOINT');
}

/**
 * HACTL_BENCH_DIRTY=1: one clone of each kind right after loading, with ~100 MB of dirty buffers. Without
 * `checkpoint: fast` pg_basebackup waits for the spread checkpoint (minutes), which is why the option matters.
 */
async function benchDirtyClone(): Promise<void> {
  for (const fast of [true, false]) {
    const primary = await startPrimary({ name: `dirty${fast ? 'f' : 's'}`, pg_hba: PG_HBA });
    await pgbenchInit(primary, false);
    const ctx = await newNode(`dirtyclone${fast ? 'f' : 's'}`, { basebackup: fast ? [{ checkpoint: 'fast' }] : [{ checkpoint: 'spread' }] });
    await timed(`clone 100 MB right after loading (${fast ? 'checkpoint: fast' : 'checkpoint: spread (PostgreSQL default)'}), 1 run`, () =>
      createReplica(ctx, { source: { host: '127.0.0.1', port: primary.port }, follow: null }),
    );
    await stop(primary.ctx, { mode: 'immediate' });
  }
}

async function benchBootstrap(): Promise<void> {
  for (let i = 0; i < RUNS; i++) {
    const base = await tempDirForPostgres('hactl-bench-');
    const options = await testOptions(base, { name: `boot${i}`, pg_hba: PG_HBA });
    const ctx = await testContext(options);
    registerServer(ctx);
    await timed('bootstrap (initdb -N + config + start + roles)', () =>
      bootstrap(ctx, { initdb: ['no-sync', { encoding: 'UTF8' }, { locale: 'C.UTF-8' }] }),
    );
    await stop(ctx, { mode: 'immediate' });
  }
}

async function benchClone(primary: TestServer): Promise<void> {
  for (const fast of [true, false]) {
    for (let i = 0; i < RUNS; i++) {
      const ctx = await newNode(`clone${fast ? 'f' : 's'}${i}`, { basebackup: fast ? [{ checkpoint: 'fast' }] : [{ checkpoint: 'spread' }] });
      await timed(`clone 100 MB (${fast ? 'checkpoint: fast' : 'checkpoint: spread (PostgreSQL default)'})`, () =>
        createReplica(ctx, { source: { host: '127.0.0.1', port: primary.port }, follow: { host: '127.0.0.1', port: primary.port } }),
      );
      await stop(ctx, { mode: 'immediate' });
      await reinitCleanup(ctx);
    }
  }
}

async function reinitCleanup(ctx: PgContext): Promise<void> {
  const { removeDataDirectory } = await import('../../src/postgres/reinit.js');
  await removeDataDirectory(ctx);
}

/** Promote, then diverge the old primary a little, then rewind it; then reinit it; the roles swap each run. */
async function benchFailoverRepair(primary: TestServer): Promise<void> {
  let current = primary.ctx;
  let standby = await newNode('pair', { basebackup: [{ checkpoint: 'fast' }] });
  await createReplica(standby, { source: { host: '127.0.0.1', port: portOf(current) }, follow: { host: '127.0.0.1', port: portOf(current) } });
  await start(standby);
  for (let i = 0; i < RUNS; i++) {
    await sql(current, `CREATE TABLE IF NOT EXISTS marks (i int); INSERT INTO marks VALUES (${i})`);
    await waitFor(standby, `SELECT 1 FROM marks WHERE i = ${i}`);
    const began = performance.now();
    await promote(standby);
    await withConnection(standby, (c) => c.query(`INSERT INTO marks VALUES (${1000 + i})`));
    record('promote → first accepted write', performance.now() - began);
    await checkpointAfterPromote(standby);
    // A small divergence: a few writes on the old primary after the promotion.
    await sql(current, `INSERT INTO marks SELECT ${2000 + i} FROM generate_series(1, 1000)`);
    const result = await timed('pg_rewind of a small divergence (stop + rewind + config + start)', () =>
      rewind(current, { host: '127.0.0.1', port: portOf(standby) }),
    );
    if (result.status !== 'rewound') throw new Error(`rewind: ${JSON.stringify(result)}`);
    await timed('full reinit of the same node (stop + remove + basebackup fast + start)', () =>
      reinit(current, { source: { host: '127.0.0.1', port: portOf(standby) } }),
    );
    [current, standby] = [standby, current];
  }
}

async function waitFor(ctx: PgContext, query: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const ok = await withConnection(ctx, async (c) => (await c.query(query)).rowCount! > 0).catch(() => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out: ${query}`);
}

function printResults(extra = ''): void {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`\n${new Date().toISOString()} · ${os.cpus().length} × ${cpu} · ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB ${extra ? `· ${extra}` : ''}\n`);
  console.log('| step | median (ms) | runs (ms) |');
  console.log('|---|---:|---|');
  for (const [name, xs] of results) console.log(`| ${name} | ${median(xs).toFixed(0)} | ${xs.map((x) => x.toFixed(0)).join(', ')} |`);
}

async function main(): Promise<void> {
  try {
    console.error(`hactl PostgreSQL control layer benchmark, ${RUNS} runs`);
    if (process.env.HACTL_BENCH_DIRTY === '1') {
      await benchDirtyClone();
      printResults();
      return;
    }
    await benchBootstrap();
    const primary = await startPrimary({ name: 'benchsrc', pg_hba: PG_HBA });
    await pgbenchInit(primary);
    const size = await withConnection(primary.ctx, async (c) => (await c.query<{ s: string }>("SELECT pg_size_pretty(pg_database_size('bench')) AS s")).rows[0]!.s);
    console.error(`pgbench -i -s 6 database: ${size}`);
    await benchClone(primary);
    await benchFailoverRepair(primary);
    printResults(`PostgreSQL ${primary.ctx.binaries.version} · pgbench db ${size}`);
  } finally {
    await cleanupPostgres();
  }
}

await main();

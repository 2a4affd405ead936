// Replicas, promotion, divergence and repair against the real PostgreSQL binaries: clone, promote, make the old
// primary diverge, rewind it, reinit, slots, and the faults of issue 3 (wrong password, primary gone mid-clone,
// full disk). Every server is stopped and every temp dir / tmpfs removed in `after`, even on failure.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  cleanupPostgres,
  freePort,
  registerServer,
  startPrimary,
  tempDirForPostgres,
  testContext,
  testOptions,
  type TestServer,
} from '../helpers/postgres.js';
import type { BasebackupProgress } from '../../src/postgres/basebackup-progress.js';
import { withConnection } from '../../src/postgres/connection.js';
import { demote, follow } from '../../src/postgres/demote.js';
import { start, stop } from '../../src/postgres/lifecycle.js';
import { checkpointAfterPromote, promote } from '../../src/postgres/promote.js';
import { reinit } from '../../src/postgres/reinit.js';
import { createReplica, ReplicaCreationFailed } from '../../src/postgres/replica.js';
import { checkDivergence, localTimelinePosition, rewind } from '../../src/postgres/rewind.js';
import { parseLsn } from '../../src/postgres/lsn.js';
import { listSlots, syncSlots } from '../../src/postgres/slots-sql.js';
import type { WantedSlot } from '../../src/postgres/slots.js';

const physicalSlot = (name: string, source: WantedSlot['source'] = 'member'): WantedSlot => ({ name, type: 'physical', source });
import type { PgContext, PostgresOptions } from '../../src/postgres/types.js';

// Passwords are checked (scram) for the replication and rewind users over TCP, so a wrong one really fails.
const PG_HBA = [
  'local all all trust',
  'host all postgres 127.0.0.1/32 trust',
  'host replication replicator 127.0.0.1/32 scram-sha-256',
  'host all rewinder 127.0.0.1/32 scram-sha-256',
];

async function query<T extends Record<string, unknown>>(ctx: PgContext, sql: string): Promise<T[]> {
  return withConnection(ctx, async (c) => (await c.query<T>(sql)).rows);
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** A not-yet-created replica node: options (free port, own temp dir) and context. */
async function replicaNode(name: string, overrides: Partial<PostgresOptions> = {}): Promise<{ ctx: PgContext; base: string }> {
  const base = await tempDirForPostgres();
  const options = await testOptions(base, { name, pg_hba: PG_HBA, ...overrides });
  const ctx = await testContext(options);
  registerServer(ctx);
  return { ctx, base };
}

function sourceOf(server: { ctx: PgContext }) {
  const port = Number(server.ctx.options.listen.split(':').pop());
  return { host: '127.0.0.1', port, name: server.ctx.options.name };
}

async function leftovers(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).filter((n) => n.includes('hactl-clone'));
}

after(cleanupPostgres);

describe('replica life cycle: clone, promote, diverge, rewind, reinit, slots', () => {
  let primary: TestServer;
  let replica: { ctx: PgContext; base: string };

  before(async () => {
    primary = await startPrimary({ name: 'node1', pg_hba: PG_HBA });
    // ~40 MB more so the throttled clone below reports progress several times.
    await query(primary.ctx, "CREATE TABLE filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 150000) g");
    await query(primary.ctx, "CREATE TABLE t (id int PRIMARY KEY, note text); INSERT INTO t VALUES (1, 'before clone')");
  });

  it('clones a replica with pg_basebackup, reports increasing progress, and sees new writes arrive', async () => {
    replica = await replicaNode('node2', { basebackup: [{ checkpoint: 'fast' }, { 'max-rate': '15M' }] });
    const progress: BasebackupProgress[] = [];
    const result = await createReplica(replica.ctx, {
      source: sourceOf(primary),
      follow: { host: '127.0.0.1', port: primary.port },
      onProgress: (p) => progress.push(p),
    });
    assert.equal(result.method, 'basebackup');
    const copying = progress.filter((p) => p.phase === 'copying');
    assert.ok(copying.length >= 2, `expected several progress reports, got ${JSON.stringify(progress)}`);
    for (let i = 1; i < copying.length; i++) assert.ok(copying[i]!.doneBytes >= copying[i - 1]!.doneBytes, 'progress never goes back');
    const last = copying[copying.length - 1]!;
    assert.ok(last.doneBytes > 30 * 1024 * 1024 && last.doneBytes === last.totalBytes, `finished at ${last.doneBytes}/${last.totalBytes}`);
    assert.equal(progress[progress.length - 1]!.phase, 'done');
    // The copy carried the primary's postgresql.conf; ours must name the replica's own port.
    const conf = await fs.readFile(path.join(replica.ctx.options.data_dir, 'postgresql.conf'), 'utf8');
    assert.match(conf, new RegExp(`port = ${replica.ctx.options.listen.split(':').pop()}`));
    await fs.access(path.join(replica.ctx.options.data_dir, 'standby.signal'));

    await start(replica.ctx);
    await query(primary.ctx, "INSERT INTO t VALUES (2, 'after clone')");
    await eventually('row 2 on the replica', async () => (await query(replica.ctx, 'SELECT 1 FROM t WHERE id = 2')).length === 1);
    const [receiver] = await query<{ status: string }>(replica.ctx, 'SELECT status FROM pg_stat_wal_receiver');
    assert.equal(receiver?.status, 'streaming');
  });

  it('creates member and permanent slots on the primary and drops the ones of members that left', async () => {
    await query(primary.ctx, "SELECT pg_create_physical_replication_slot('by_hand')");
    const first = await syncSlots(primary.ctx, {
      wanted: [physicalSlot('archiver', 'permanent'), physicalSlot('node2'), physicalSlot('node_3')],
      owned: new Set(),
    });
    assert.deepEqual(first.results.filter((r) => r.error), []);
    assert.deepEqual((await listSlots(await connectLike(primary.ctx))).map((s) => s.name), ['archiver', 'by_hand', 'node2', 'node_3']);

    const second = await syncSlots(primary.ctx, {
      wanted: [physicalSlot('node2')],
      owned: first.owned,
    });
    assert.deepEqual(second.plan.actions.map((a) => `${a.kind} ${'slot' in a ? a.slot.name : a.name}`).sort(), ['drop archiver', 'drop node_3']);
    const names = (await query<{ slot_name: string }>(primary.ctx, 'SELECT slot_name FROM pg_replication_slots ORDER BY 1')).map((r) => r.slot_name);
    assert.deepEqual(names, ['by_hand', 'node2'], 'the slot made by hand survives');

    // The replica switches to its slot without a restart (primary_slot_name is reloadable since 13).
    const followed = await follow(replica.ctx, { host: '127.0.0.1', port: primary.port, slotName: 'node2' });
    assert.equal(followed.how, 'reload');
    await eventually('replica streaming through slot node2', async () => {
      const rows = await query<{ active: boolean }>(primary.ctx, "SELECT active FROM pg_replication_slots WHERE slot_name = 'node2'");
      return rows[0]?.active === true;
    });
    await query(primary.ctx, "SELECT pg_drop_replication_slot('by_hand')");
  });

  it('promotes the replica and measures the time to the first accepted write', async (t) => {
    const result = await promote(replica.ctx);
    assert.equal(result.promoted, true);
    assert.equal(result.timeline, 2);
    // Measured, not bounded (bench/postgres times it against the anchor); a hang fails on pg_ctl's own timeout.
    t.diagnostic(`promote took ${result.elapsedMs} ms`);
    await query(replica.ctx, "INSERT INTO t VALUES (3, 'on the new primary')");
    await assert.rejects(fs.access(path.join(replica.ctx.options.data_dir, 'standby.signal')));
    await checkpointAfterPromote(replica.ctx);
  });

  it('detects that the old primary diverged after writing on its own, and rewinds it to follow the new primary', async () => {
    await query(primary.ctx, "INSERT INTO t VALUES (100, 'lost write on the old timeline')");
    const running = await checkDivergence(primary.ctx, sourceOf(replica));
    assert.equal(running.diverged, true, running.reason);
    assert.match(running.reason, /local timeline 1 .* (at or past|not at) the primary's switch point/);
    // A crash: the position is unknown until crash recovery ran (rewind does it in single-user mode).
    await stop(primary.ctx, { mode: 'immediate' });
    await assert.rejects(checkDivergence(primary.ctx, sourceOf(replica)), /not shut down cleanly/);

    // Without use_pg_rewind nothing is removed: the answer is that a reinit is needed.
    const refused = await rewind({ ...primary.ctx, options: { ...primary.ctx.options, use_pg_rewind: false } }, sourceOf(replica));
    assert.equal(refused.status, 'needs-reinit');
    assert.match(refused.reason, /use_pg_rewind is off.*reinitialize/);
    await fs.access(path.join(primary.ctx.options.data_dir, 'PG_VERSION'));

    const result = await rewind(primary.ctx, sourceOf(replica));
    assert.equal(result.status, 'rewound', JSON.stringify(result));
    await query(replica.ctx, "INSERT INTO t VALUES (4, 'after rewind')");
    await eventually('row 4 on the rewound old primary', async () => (await query(primary.ctx, 'SELECT 1 FROM t WHERE id = 4')).length === 1);
    assert.deepEqual(await query(primary.ctx, 'SELECT id FROM t WHERE id = 100'), [], 'the diverged write is gone');
    const [tl] = await query<{ received_tli: number }>(primary.ctx, 'SELECT received_tli FROM pg_stat_wal_receiver');
    assert.equal(tl?.received_tli, 2);
    const after = await checkDivergence(primary.ctx, sourceOf(replica));
    assert.equal(after.diverged, false, after.reason);
  });

  it('reinitializes a replica from scratch', async () => {
    const marker = path.join(primary.ctx.options.data_dir, 'marker-from-before');
    await fs.writeFile(marker, 'x');
    const result = await reinit(primary.ctx, { source: sourceOf(replica) });
    assert.equal(result.method, 'basebackup');
    await assert.rejects(fs.access(marker), 'the old data directory is gone');
    await query(replica.ctx, "INSERT INTO t VALUES (5, 'after reinit')");
    await eventually('row 5 after reinit', async () => (await query(primary.ctx, 'SELECT 1 FROM t WHERE id = 5')).length === 1);
  });

  it('switches over cleanly: the demoted primary needs no rewind and follows the promoted replica', async () => {
    // node2 is the primary now, node1 its replica. Demote node2 (clean shutdown), let node1 receive the
    // shutdown checkpoint, promote node1: node2's checkpoint record ends exactly at the switch point.
    const demoted = await demote(replica.ctx, null, { startAfter: false });
    assert.equal(demoted.stoppedWith, 'fast');
    const end = (await localTimelinePosition(replica.ctx)).checkpointEndLsn;
    assert.ok(end !== undefined, 'pg_waldump found the end of the shutdown checkpoint');
    await eventually('node1 received the shutdown checkpoint', async () => {
      const [row] = await query<{ lsn: string }>(primary.ctx, 'SELECT pg_last_wal_replay_lsn()::text AS lsn');
      return row !== undefined && parseLsn(row.lsn) >= end;
    });
    const promoted = await promote(primary.ctx, { method: 'sql' }); // pg_promote(wait => true) this time
    assert.equal(promoted.timeline, 3);
    const check = await checkDivergence(replica.ctx, sourceOf(primary));
    assert.equal(check.diverged, false, check.reason);
    assert.match(check.reason, /checkpoint ends at the primary's switch point/);
    const followed = await follow(replica.ctx, { host: '127.0.0.1', port: primary.port });
    assert.equal(followed.how, 'start');
    await query(primary.ctx, "INSERT INTO t VALUES (6, 'after switchover')");
    await eventually('row 6 on the demoted node', async () => (await query(replica.ctx, 'SELECT 1 FROM t WHERE id = 6')).length === 1);
  });

  it('places a standby on the timeline it replays, not on the one of its last restartpoint, also without a WAL receiver (no false divergence)', async () => {
    // node2 shut down on timeline 2 and now replays timeline 3: pg_control still says 2 until its
    // first restartpoint. Between two WAL receivers (a re-point, a restart of the stream) nothing
    // else tells the timeline; pointed at a port nobody listens on, it has none.
    const [control] = await query<{ tl: number }>(replica.ctx, 'SELECT timeline_id AS tl FROM pg_control_checkpoint()');
    assert.equal(control?.tl, 2, 'the restartpoint timeline lags (the case this test is about)');
    await follow(replica.ctx, { host: '127.0.0.1', port: await freePort() });
    await eventually('no WAL receiver on node2', async () => (await query(replica.ctx, 'SELECT 1 FROM pg_stat_wal_receiver')).length === 0);
    const position = await localTimelinePosition(replica.ctx);
    assert.equal(position.timeline, 3);
    assert.equal(position.inRecovery, true);
    const [row] = await query<{ lsn: string }>(replica.ctx, 'SELECT pg_last_wal_replay_lsn()::text AS lsn');
    assert.ok(position.lsn >= parseLsn(row!.lsn), 'at least the replayed position');
    const check = await checkDivergence(replica.ctx, sourceOf(primary));
    assert.equal(check.diverged, false, check.reason);
    await follow(replica.ctx, { host: '127.0.0.1', port: primary.port });
    await query(primary.ctx, "INSERT INTO t VALUES (60, 'streaming again')");
    await eventually('row 60 on node2', async () => (await query(replica.ctx, 'SELECT 1 FROM t WHERE id = 60')).length === 1);
  });

  it('counts WAL a standby received but has not replayed yet (complete records) in its position', async () => {
    // Replay paused while the primary writes: complete records wait after the replay end, and they will be
    // replayed, so a new timeline branching before them would be a divergence (the flush position stands).
    await query(replica.ctx, 'SELECT pg_wal_replay_pause()');
    try {
      // pg_wal_replay_pause() only asks: until the state reads 'paused' the startup process may still
      // replay what comes next (seen in a suite run: the insert was replayed, nothing was left after it).
      await eventually('replay on node2 to be paused', async () => (await query<{ s: string }>(replica.ctx, 'SELECT pg_get_wal_replay_pause_state() AS s'))[0]?.s === 'paused');
      // Committed with a local flush: under the fixture's synchronous_commit off the commit record could still
      // sit in WAL buffers, and the write position read next would then be reached before it was sent at all.
      await query(primary.ctx, "BEGIN; SET LOCAL synchronous_commit = local; INSERT INTO t VALUES (61, 'received, not replayed'); COMMIT");
      const [current] = await query<{ lsn: string }>(primary.ctx, 'SELECT pg_current_wal_lsn()::text AS lsn');
      const received = await eventually('node2 received what node1 wrote', async () => {
        const [row] = await query<{ lsn: string | null }>(replica.ctx, 'SELECT pg_last_wal_receive_lsn()::text AS lsn');
        return row?.lsn !== null && row?.lsn !== undefined && parseLsn(row.lsn) >= parseLsn(current!.lsn) ? row.lsn : false;
      });
      const [replay] = await query<{ lsn: string }>(replica.ctx, 'SELECT pg_last_wal_replay_lsn()::text AS lsn');
      assert.ok(parseLsn(replay!.lsn) < parseLsn(received), `the premise: replay (${replay!.lsn}) stopped before the end of what was received (${received})`);
      const paused = await localTimelinePosition(replica.ctx);
      assert.ok(paused.lsn > parseLsn(replay!.lsn), `position ${paused.lsn} counts the received records past the replay end ${replay!.lsn}`);
    } finally {
      await query(replica.ctx, 'SELECT pg_wal_replay_resume()');
    }
    await eventually('row 61 replayed on node2', async () => (await query(replica.ctx, 'SELECT 1 FROM t WHERE id = 61')).length === 1);
  });

  it('reinitializes instead when pg_rewind fails and remove_data_directory_on_rewind_failure is set', async () => {
    const options = {
      ...replica.ctx.options,
      remove_data_directory_on_rewind_failure: true,
      authentication: { ...replica.ctx.options.authentication, rewind: { username: 'rewinder', password: 'not-the-password' } },
    };
    const result = await rewind({ ...replica.ctx, options }, sourceOf(primary), { checkpointTimeoutMs: 500 });
    assert.equal(result.status, 'reinitialized', JSON.stringify(result));
    assert.ok(result.status === 'reinitialized' && /password authentication failed for user "rewinder"/.test(result.rewindError), JSON.stringify(result));
    await query(primary.ctx, "INSERT INTO t VALUES (7, 'after fallback reinit')");
    await eventually('row 7 on the reinitialized node', async () => (await query(replica.ctx, 'SELECT 1 FROM t WHERE id = 7')).length === 1);
  });

  it('keeps the data directory and says to try again when the source is unreachable, even with remove_data_directory_on_rewind_failure', async () => {
    const options = { ...replica.ctx.options, remove_data_directory_on_rewind_failure: true };
    const gone = { host: '127.0.0.1', port: await freePort(), name: 'gone' };
    const result = await rewind({ ...replica.ctx, options }, gone, { checkpointTimeoutMs: 300 });
    // Not a failed rewind (which would need a reinit): nothing is known about our data yet.
    assert.equal(result.status, 'source-unavailable', JSON.stringify(result));
    assert.match(result.reason, /cannot rewind from gone \(127\.0\.0\.1:\d+\) now: gone \(127\.0\.0\.1:\d+\) is unreachable .*trying again on a later cycle/);
    await fs.access(path.join(replica.ctx.options.data_dir, 'PG_VERSION'));
  });
});

async function connectLike(ctx: PgContext) {
  const { connect } = await import('../../src/postgres/connection.js');
  const client = await connect(ctx);
  after(() => client.end());
  return client;
}

describe('faults while cloning', () => {
  let primary: TestServer;
  let mountPoint: string | null = null;

  before(async () => {
    primary = await startPrimary({ name: 'src', pg_hba: PG_HBA });
  });

  after(() => {
    if (mountPoint) {
      try {
        execFileSync('umount', [mountPoint]);
      } catch {
        execFileSync('umount', ['-l', mountPoint]);
      }
      rmSync(mountPoint, { recursive: true, force: true });
    }
  });

  it('fails with the command, exit code and server message on a wrong replication password, leaving no data directory', async (t) => {
    const node = await replicaNode('badpass', {
      authentication: { superuser: { username: 'postgres' }, replication: { username: 'replicator', password: 'wrong' } },
    });
    const err = await createReplica(node.ctx, { source: sourceOf(primary), follow: null }).then(
      () => assert.fail('clone with a wrong password succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ReplicaCreationFailed, String(err));
    t.diagnostic(err.message);
    assert.match(err.message, /pg_basebackup.*exited with code 1.*password authentication failed for user "replicator"/);
    assert.doesNotMatch(err.message, /wrong/, 'the password is not in the message');
    await assert.rejects(fs.access(node.ctx.options.data_dir));
    assert.deepEqual(await leftovers(node.base), []);
  });

  it('cleans up when the primary goes away in the middle of a clone', async (t) => {
    const big = await startPrimary({ name: 'big', pg_hba: PG_HBA });
    await query(big.ctx, "CREATE TABLE big AS SELECT g, repeat('y', 200) AS pad FROM generate_series(1, 500000) g");
    // checkpoint: fast, or pg_basebackup first waits for a spread checkpoint of the freshly written table (minutes).
    const node = await replicaNode('midclone', { basebackup: { checkpoint: 'fast', 'max-rate': '30M' } });
    let killed = false;
    const err = await createReplica(node.ctx, {
      source: sourceOf(big),
      follow: null,
      onProgress: (p) => {
        if (!killed && p.phase === 'copying' && p.doneBytes > 5 * 1024 * 1024) {
          killed = true;
          void stop(big.ctx, { mode: 'immediate' });
        }
      },
    }).then(
      () => assert.fail('clone survived the primary going away'),
      (e: unknown) => e,
    );
    assert.ok(killed, 'the primary was stopped during the copy');
    assert.ok(err instanceof ReplicaCreationFailed, String(err));
    t.diagnostic(err.message);
    assert.match(err.message, /pg_basebackup/);
    await assert.rejects(fs.access(node.ctx.options.data_dir));
    assert.deepEqual(await leftovers(node.base), []);
  });

  it('cleans up on a full disk during the clone and never touches another data directory', { skip: process.getuid?.() !== 0 && 'mounting a small tmpfs needs root' }, async (t) => {
    mountPoint = mkdtempSync(path.join(os.tmpdir(), 'hactl-tmpfs-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m,mode=0755', 'tmpfs', mountPoint]);
    // A neighbour on the same small disk that must survive untouched.
    const neighbour = path.join(mountPoint, 'other-data');
    await fs.mkdir(neighbour);
    await fs.writeFile(path.join(neighbour, 'PG_VERSION'), '15\n');
    const base = await tempDirForPostgres();
    const options = await testOptions(base, { name: 'fulldisk', pg_hba: PG_HBA, data_dir: path.join(mountPoint, 'data') });
    const ctx = await testContext(options);
    registerServer(ctx);
    const err = await createReplica(ctx, { source: sourceOf(primary), follow: null }).then(
      () => assert.fail('clone onto a 20 MB disk succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ReplicaCreationFailed, String(err));
    t.diagnostic(err.message);
    assert.match(err.message, /No space left on device/);
    assert.deepEqual((await fs.readdir(mountPoint)).sort(), ['other-data']);
    assert.equal(await fs.readFile(path.join(neighbour, 'PG_VERSION'), 'utf8'), '15\n');
  });

  it('falls back to the next create_replica_method when a custom one fails, and removes stale staging dirs', async () => {
    const node = await replicaNode('fallback', {
      create_replica_methods: ['broken', 'basebackup'],
      replica_methods: { broken: { command: 'echo "no backups here" >&2; exit 3' } },
    });
    // Left behind by an agent killed during an earlier clone: removed, never mistaken for a data directory.
    await fs.mkdir(path.join(node.base, '.data.hactl-clone-dead'));
    const failed: string[] = [];
    const result = await createReplica(node.ctx, {
      source: sourceOf(primary),
      follow: { host: '127.0.0.1', port: primary.port },
      onMethodFailed: (m) => failed.push(m),
    });
    assert.equal(result.method, 'basebackup');
    assert.deepEqual(failed, ['broken']);
    assert.deepEqual(await leftovers(node.base), []);
    assert.match(result.failures[0]!.error, /exited with code 3: no backups here/);
    await start(node.ctx);
    await eventually('fallback replica accepts queries', async () => (await query(node.ctx, 'SELECT pg_is_in_recovery() AS r'))[0]?.r === true);
  });
});

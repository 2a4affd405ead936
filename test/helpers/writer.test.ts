import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupPostgres, freePort, startPrimary } from './postgres.js';
import { LIVENESS_MS, waitUntil } from './wait.js';
import { analyzeWrites, multiHostConninfo, Writer, type Ack, type FinalRow } from './writer.js';
import { SUITE_MS } from './wait.js';

/** Acks of `member` every `stepMs` from `fromMs` to `toMs` inclusive, ids from `firstId`. */
function acksOf(member: string, fromMs: number, toMs: number, stepMs = 20, firstId = 1): Ack[] {
  const out: Ack[] = [];
  for (let t = fromMs, id = firstId; t <= toMs; t += stepMs, id++) out.push({ member, id, sentAtMs: t, ackedAtMs: t });
  return out;
}
const rowsOf = (acks: readonly Ack[]): FinalRow[] => acks.map((a) => ({ member: a.member, id: a.id }));

describe('analyzeWrites', () => {
  it('measures a clean failover: time to the first commit on the new primary and the unavailability window', () => {
    const old = acksOf('node1', 0, 1000, 20, 1);
    const fresh = acksOf('node2', 7000, 8000, 20, 52);
    const acks = [...old, ...fresh];
    const r = analyzeWrites(acks, rowsOf(acks), { eventAtMs: 1010 });
    assert.equal(r.acked, acks.length);
    assert.equal(r.newMember, 'node2');
    assert.equal(r.eventToFirstNewCommitMs, 5990);
    assert.equal(r.unavailabilityWindowMs, 6000);
    assert.equal(r.lastAckBeforeEventMs, 10);
    assert.equal(r.acksOnOldAfterEvent, 0);
    assert.equal(r.maxGapBetweenAcksMs, 6000);
    assert.deepEqual(r.splitBrainWindows, []);
    assert.equal(r.missingAcked, 0);
    assert.equal(r.rowsPresentNotAcked, 0);
  });

  it('takes the first change of the acknowledging member as the event when none is given', () => {
    const acks = [...acksOf('node1', 0, 400), ...acksOf('node3', 900, 1200, 20, 100)];
    const r = analyzeWrites(acks, rowsOf(acks));
    assert.equal(r.newMember, 'node3');
    assert.equal(r.unavailabilityWindowMs, 500);
    assert.equal(r.eventToFirstNewCommitMs, 0);
  });

  it('counts acknowledged commits missing from the final primary, and rows that were never acknowledged', () => {
    const old = acksOf('node1', 0, 1000);
    const fresh = acksOf('node2', 3000, 4000, 20, 60);
    // The last 3 commits on the old primary never reached the new one; one unacknowledged row arrived.
    const final = [...rowsOf(old.slice(0, -3)), ...rowsOf(fresh), { member: 'node1', id: 999 }];
    const r = analyzeWrites([...old, ...fresh], final, { eventAtMs: 1000 });
    assert.equal(r.missingAcked, 3);
    assert.deepEqual(
      r.missingSample.map((a) => a.id),
      old.slice(-3).map((a) => a.id),
    );
    assert.equal(r.rowsPresentNotAcked, 1);
  });

  it('keys rows by member and id, so equal ids of different members are different rows', () => {
    const acks: Ack[] = [
      { member: 'node1', id: 1, sentAtMs: 0, ackedAtMs: 0 },
      { member: 'node2', id: 1, sentAtMs: 5000, ackedAtMs: 5000 },
    ];
    const r = analyzeWrites(acks, [{ member: 'node2', id: 1 }]);
    assert.equal(r.missingAcked, 1);
    assert.equal(r.missingSample[0]!.member, 'node1');
  });

  it('reports a split-brain window where two members acknowledged commits in the same period', () => {
    // node1 (the stopped leader's PostgreSQL) keeps acknowledging until 9000; node2 is promoted at 6000.
    const old = acksOf('node1', 0, 9000, 50);
    const fresh = acksOf('node2', 6000, 12_000, 50, 1000);
    const acks = [...old, ...fresh];
    const r = analyzeWrites(acks, rowsOf(fresh), { eventAtMs: 1000, oldMember: 'node1' });
    assert.equal(r.splitBrainWindows.length, 1);
    const w = r.splitBrainWindows[0]!;
    assert.deepEqual([w.startMs, w.endMs, w.durationMs], [6000, 9000, 3000]);
    assert.deepEqual(w.members, ['node1', 'node2']);
    assert.equal(w.acks, 61 + 61);
    assert.equal(r.acksOnOldAfterEvent, 160);
    assert.equal(r.missingAcked, old.length, 'the old primary\'s writes are lost');
  });

  it('finds a split brain even when a single ack of the other member falls inside a period', () => {
    const acks = [...acksOf('node1', 0, 2000, 50), { member: 'node3', id: 1, sentAtMs: 1234, ackedAtMs: 1234 }];
    const r = analyzeWrites(acks, rowsOf(acks), { eventAtMs: 0, oldMember: 'node1' });
    assert.equal(r.splitBrainWindows.length, 1);
    assert.deepEqual([r.splitBrainWindows[0]!.startMs, r.splitBrainWindows[0]!.durationMs], [1234, 0]);
  });

  it('does not call a hand-over and a later hand-back a split brain', () => {
    // node1 → node2 (switchover), node2 → node1 a few seconds later (switch back).
    const acks = [...acksOf('node1', 0, 1000, 20), ...acksOf('node2', 1300, 5000, 20, 100), ...acksOf('node1', 5400, 8000, 20, 500)];
    const r = analyzeWrites(acks, rowsOf(acks));
    assert.deepEqual(r.splitBrainWindows, []);
  });

  it('merges overlapping windows of three members into one', () => {
    const acks = [...acksOf('node1', 0, 3000, 50), ...acksOf('node2', 1000, 2000, 50), ...acksOf('node3', 1800, 4000, 50)];
    const r = analyzeWrites(acks, rowsOf(acks));
    assert.equal(r.splitBrainWindows.length, 1);
    assert.deepEqual(r.splitBrainWindows[0]!.members, ['node1', 'node2', 'node3']);
    assert.deepEqual([r.splitBrainWindows[0]!.startMs, r.splitBrainWindows[0]!.endMs], [1000, 3000]);
  });

  it('copes with no acks at all', () => {
    const r = analyzeWrites([], []);
    assert.equal(r.acked, 0);
    assert.equal(r.newMember, null);
    assert.equal(r.unavailabilityWindowMs, null);
    assert.equal(r.maxGapBetweenAcksMs, null);
    assert.deepEqual(r.splitBrainWindows, []);
  });

  it('builds a libpq multi-host URI with target_session_attrs=read-write', () => {
    assert.equal(
      multiHostConninfo([
        { name: 'a', port: 5432 },
        { name: 'b', host: '127.0.0.2', port: 5433 },
      ]),
      'postgresql://postgres@127.0.0.1:5432,127.0.0.2:5433/postgres?target_session_attrs=read-write',
    );
  });
});

describe('Writer against a real PostgreSQL', { timeout: SUITE_MS }, () => {
  after(cleanupPostgres);

  it('skips a dead host, commits rows on the read-write one, and finds them all at the end', async () => {
    const server = await startPrimary();
    const dead = { name: 'gone', port: await freePort() };
    const live = { name: 'live', port: server.port };
    const writer = new Writer({ mode: 'multi-host', targets: [dead, live], intervalMs: 20, run: 'mh' });
    await writer.ensureTable();
    writer.start();
    await waitUntil(() => writer.acks.length >= 15, { timeoutMs: LIVENESS_MS, what: '15 acknowledged commits' });
    await writer.stop();
    assert.ok(writer.acks.every((a) => a.member === 'live'));
    assert.deepEqual(writer.connections.map((c) => c.member), ['live']);
    const r = analyzeWrites(writer.acks, await writer.finalRows());
    assert.equal(r.missingAcked, 0);
    assert.deepEqual(r.splitBrainWindows, []);
  });

  it('in every-member mode keeps trying a member that refuses and records only the acknowledged commits', async () => {
    const server = await startPrimary();
    const dead = { name: 'gone', port: await freePort() };
    const live = { name: 'live', port: server.port };
    const writer = new Writer({ mode: 'every-member', targets: [live, dead], intervalMs: 20, run: 'em' });
    await writer.ensureTable();
    writer.start();
    await waitUntil(() => writer.acks.length >= 8 && writer.errors.some((e) => e.member === 'gone'), { timeoutMs: LIVENESS_MS, what: "8 acknowledged commits and an error from 'gone'" });
    await writer.stop();
    assert.equal(writer.acksOf('gone').length, 0);
    assert.equal(analyzeWrites(writer.acks, await writer.finalRows(live)).missingAcked, 0);
  });
});

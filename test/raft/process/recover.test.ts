// Real processes: a member whose journal is damaged refuses to start (naming file, offset and the
// recovery command); `hactl raft recover` sets it aside; the member comes back as a learner that
// does not vote, catches up, and is a voter again. Needs `npm run build` first.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RaftCluster } from './cluster.js';
import { LIVENESS_MS, SUITE_MS, waitUntil } from '../../helpers/wait.js';

describe('recovering a member with a damaged journal', { timeout: SUITE_MS }, () => {
  let cluster: RaftCluster;
  let victim: string;

  before(async () => {
    cluster = await RaftCluster.start({ size: 3, password: 'recover secret' });
    const leader = await cluster.waitForLeader();
    for (let i = 0; i < 30; i++) assert.equal((await cluster.write(leader, { op: 'set', key: `/r/${i}`, value: `v${i}` })).ok, true);
    victim = cluster.addrs.find((a) => a !== leader)!;
    await waitUntil(async () => ((await cluster.status(victim))?.keys === 30 ? true : null), { what: `${victim} to hold 30 keys`, timeoutMs: LIVENESS_MS });
  });
  after(async () => {
    await cluster?.destroy();
  });

  it('refuses to start on damage it cannot prove to be a torn write, and says how to recover', async () => {
    await cluster.kill(victim, 'SIGTERM');
    const dir = cluster.dataDir(victim);
    const seg = path.join(dir, readdirSync(dir).filter((n) => n.endsWith('.wal')).sort()[0]!);
    const buf = readFileSync(seg);
    const at = Math.floor(statSync(seg).size / 2);
    buf[at]! ^= 0x20;
    writeFileSync(seg, buf);
    const proc = cluster.startNode(victim, cluster.addrs);
    const code = await proc.exited;
    assert.notEqual(code, 0, 'the member must not start');
    const out = proc.output();
    assert.match(out, new RegExp(`${seg.replace(/[.]/g, '\\.')}: damaged record at offset \\d+`));
    assert.match(out, new RegExp(`hactl raft recover --data-dir ${dir}`));
  });

  it('comes back through hactl raft recover as a learner that votes only once caught up', async (t) => {
    t.after(() => {
      if (process.env.HACTL_DEBUG) console.log(cluster.logs());
    });
    const dir = cluster.dataDir(victim);
    const others = cluster.addrs.filter((a) => a !== victim);
    const rec = await cluster.hactl(['raft', 'recover', '--data-dir', dir, '--partner-addrs', others.join(',')]);
    assert.equal(rec.code, 0, rec.output);
    assert.match(rec.output, /moved \d+ file\(s\) to .*damaged-/);
    assert.ok(readdirSync(dir).some((n) => n.startsWith('damaged-')), 'the damaged files are kept');

    // Writes keep committing on the other two meanwhile.
    const leader = await cluster.waitForLeader({ among: others });
    assert.equal((await cluster.write(leader, { op: 'set', key: '/r/during', value: 'x' })).ok, true);

    cluster.startNode(victim, cluster.addrs);
    await cluster.waitListening(victim);
    const seen = new Set<string>();
    await waitUntil(async () => {
      const s = await cluster.status(victim);
      if (!s) return null;
      seen.add(`${s.role}/${s.recovering}`);
      // While recovering it never campaigns.
      assert.ok(!(s.recovering && (s.role === 'candidate' || s.role === 'pre-candidate' || s.role === 'leader')), `recovering member in role ${s.role}`);
      return !s.recovering && s.keys === 31 && String(s.voters).split(',').includes(victim) ? s : null;
    }, { what: `${victim} to be caught up and a voter again`, timeoutMs: LIVENESS_MS, intervalMs: 50 });
    assert.ok([...seen].some((x) => x.endsWith('/true')), `it was seen recovering (${[...seen].join(', ')})`);
    const out = cluster.proc(victim).output();
    assert.match(out, /recovering from a lost log: asking to be demoted to learner/);
    assert.match(out, /is a learner from index \d+, catching up/);
    assert.match(out, /recovery complete, voting again/);

    // A full voter again: the cluster survives losing one of the two others.
    const now = await cluster.waitForLeader();
    const other = others.find((a) => a !== now)!;
    await cluster.kill(other);
    const next = await cluster.waitForLeader({ among: cluster.addrs.filter((a) => a !== other), timeoutMs: LIVENESS_MS });
    assert.equal((await cluster.write(next, { op: 'set', key: '/r/after', value: 'y' })).ok, true);
  });
});

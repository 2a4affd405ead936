// postgresql.callbacks, before_stop and pre_promote on a real three-member cluster (issue 12 item 4):
// each member's callbacks append `<action> <role> <scope> <os user>` to a file, as Patroni's
// features/callback2.py does, and the test reads what PostgreSQL's life looked like from there —
// bootstrap, a REST restart and reload, a switchover (stop and role changes on both sides), and a
// pre_promote that refuses: the candidate gives the key back and another member leads.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BOOTSTRAPPED_WITHIN_MS, HEALTHY_WITHIN_MS, memberStatus, TestCluster } from '../helpers/cluster.js';
import { editMemberConfig } from '../helpers/member-config.js';
import { pgUser } from '../helpers/postgres.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';

const cbLog = (cluster: TestCluster, name: string) => path.join(cluster.node(name).base, 'cb.log');
const refuseFile = (cluster: TestCluster, name: string) => path.join(cluster.node(name).base, 'refuse-promote');

async function lines(file: string): Promise<string[]> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '');
}

describe('callbacks, before_stop and pre_promote (e2e)', { timeout: 600_000 }, () => {
  let cluster: TestCluster;
  let osUser: string;

  const post = (name: string, p: string, body?: unknown) =>
    fetch(`http://127.0.0.1:${cluster.node(name).apiPort}${p}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });

  /** Waits until `name`'s callback log holds `entry` (`<action> <role>`); returns the whole log. */
  const waitForEntry = async (name: string, entry: string) => {
    try {
      return await waitUntil(
        async () => {
          const all = await lines(cbLog(cluster, name));
          return all.includes(`${entry} ${cluster.scope} ${osUser}`) ? all : null;
        },
        { timeoutMs: LIVENESS_MS, intervalMs: 100, what: `${name}'s callbacks to log "${entry}"` },
      );
    } catch (err) {
      const agent = cluster.output(name).split('\n').slice(-40).join('\n');
      throw new Error(`${(err as Error).message}\n--- ${name}'s cb.log\n${(await lines(cbLog(cluster, name))).join('\n')}\n--- ${name}'s agent\n${agent}`);
    }
  };

  before(async () => {
    osUser = (await pgUser()).name;
    cluster = await TestCluster.create({ size: 3 });
    for (const node of cluster.nodes) {
      const script = path.join(node.base, 'cb.sh');
      // Patroni's callback2.py, in sh: the last three arguments, plus who ran it.
      await fs.writeFile(script, `#!/bin/sh\necho "$1 $2 $3 $(id -un)" >> '${node.base}/cb.log'\n`, { mode: 0o755 });
      const pre = path.join(node.base, 'pre-promote.sh');
      await fs.writeFile(pre, `#!/bin/sh\necho "pre_promote $(id -un)" >> '${node.base}/cb.log'\ntest ! -e '${node.base}/refuse-promote'\n`, { mode: 0o755 });
      const cmd = `/bin/sh ${script}`;
      await editMemberConfig(node.configPath, {
        'postgresql.callbacks': { on_start: cmd, on_stop: cmd, on_restart: cmd, on_reload: cmd, on_role_change: cmd },
        'postgresql.before_stop': `/bin/sh -c "echo before_stop >> '${node.base}/cb.log'"`,
        'postgresql.pre_promote': `/bin/sh ${pre}`,
      });
    }
    cluster.startAll();
  });

  after(async () => {
    await cluster?.destroy();
  });

  let leader = '';
  let replicas: string[] = [];

  it('runs on_start with the role each member started in, as the PostgreSQL OS user', async () => {
    leader = await cluster.waitForHealthy(undefined, BOOTSTRAPPED_WITHIN_MS);
    replicas = cluster.nodes.map((n) => n.name).filter((n) => n !== leader);
    const leaderLog = await waitForEntry(leader, 'on_start primary');
    assert.ok(!leaderLog.some((l) => l.startsWith('pre_promote')), `bootstrap is no promotion: ${leaderLog.join(' | ')}`);
    for (const r of replicas) {
      const log = await waitForEntry(r, 'on_start replica');
      assert.equal(log.filter((l) => l.startsWith('on_start')).length, 1, `one on_start for ${r}: ${log.join(' | ')}`);
    }
  });

  it('runs before_stop then on_restart (no on_stop / on_start) for POST /restart, on_reload for POST /reload', async () => {
    const r = replicas[0]!;
    // POST /restart goes by the agent's last cycle: streaming (seen in SQL) may be ahead of what its loop saw.
    await waitUntil(async () => (await memberStatus(cluster.node(r)))?.state === 'running', { timeoutMs: LIVENESS_MS, what: `${r}'s agent to report PostgreSQL running` });
    const before = (await lines(cbLog(cluster, r))).length;
    const res = await post(r, '/restart', {});
    assert.equal(res.status, 200, await res.text());
    const log = (await waitForEntry(r, 'on_restart replica')).slice(before);
    assert.deepEqual(
      log.map((l) => l.split(' ')[0]),
      ['before_stop', 'on_restart'],
      `a restart is before_stop and on_restart only: ${log.join(' | ')}`,
    );
    const reload = await post(r, '/reload');
    assert.equal(reload.status, 202, await reload.text());
    await waitForEntry(r, 'on_reload replica');
  });

  it('a switchover: before_stop, on_stop primary, on_role_change replica on the old leader; on_role_change primary on the new one', async () => {
    const candidate = replicas[1]!;
    const oldBefore = (await lines(cbLog(cluster, leader))).length;
    const newBefore = (await lines(cbLog(cluster, candidate))).length;
    const res = await post(leader, '/switchover', { leader, candidate });
    assert.equal(res.status, 200, await res.text());
    const newLog = (await waitForEntry(candidate, 'on_role_change primary')).slice(newBefore);
    assert.deepEqual(newLog.map((l) => l.split(' ')[0]), ['pre_promote', 'on_role_change'], `candidate: ${newLog.join(' | ')}`);
    const oldLog = (await waitForEntry(leader, 'on_role_change replica')).slice(oldBefore);
    // The old leader starts as a replica at once, before the candidate holds the key, and is then
    // pointed at the new leader by a reload — which runs on_reload, as Patroni's follow() does when
    // it changes primary_conninfo by reload. Whether that reload is already in the log when
    // on_role_change shows up is timing (CI caught it there under load), so it may trail, once.
    const actions = oldLog.map((l) => l.split(' ').slice(0, 2).join(' '));
    const trailing = actions.slice(3).filter((a) => a !== 'on_reload replica');
    assert.deepEqual(actions.slice(0, 3), ['before_stop', 'on_stop primary', 'on_role_change replica'], `old leader: ${oldLog.join(' | ')}`);
    assert.ok(trailing.length === 0 && actions.length <= 4, `old leader, after on_role_change: ${oldLog.join(' | ')}`);
    assert.equal(await cluster.waitForHealthy(undefined, HEALTHY_WITHIN_MS), candidate);
    replicas = [leader, replicas[0]!];
    leader = candidate;
  });

  it('pre_promote exiting non-zero cancels the promotion: the candidate gives the key back and another member leads', async () => {
    const refusing = replicas[1]!;
    await fs.writeFile(refuseFile(cluster, refusing), '');
    const before = (await lines(cbLog(cluster, refusing))).length;
    const res = await post(leader, '/switchover', { leader, candidate: refusing });
    // The answer says what the leader's API saw while it polled the leader key, as Patroni's does: the
    // refusing candidate holding it for the moment before its pre_promote ran ("Successfully switched
    // over", 200), another member holding it ("Switched over to … instead of …", 200), or the old leader,
    // which raced too once the candidate let go, holding it again with the request gone ("Switchover
    // failed", 503; seen under load). Which one is timing; what happened is checked below.
    const text = await res.text();
    const agents = () => cluster.nodes.map((n) => `--- ${n.name}'s agent\n${cluster.output(n.name).split('\n').slice(-25).join('\n')}`).join('\n');
    assert.ok(res.status === 200 || (res.status === 503 && text.startsWith('Switchover failed')), `${res.status} ${text}\n${agents()}`);
    await cluster.waitForLog(refusing, /Promotion cancelled because the pre-promote script failed/, LIVENESS_MS);
    assert.match(cluster.output(refusing), /pre_promote script `[^`]+` exited with 1/);
    const newLeader = await cluster.waitForHealthy(undefined, HEALTHY_WITHIN_MS);
    assert.notEqual(newLeader, refusing);
    const log = (await lines(cbLog(cluster, refusing))).slice(before);
    assert.ok(log.some((l) => l.startsWith('pre_promote')), `pre_promote ran: ${log.join(' | ')}`);
    assert.ok(!log.some((l) => l.startsWith('on_role_change primary')), `never promoted: ${log.join(' | ')}`);
    await fs.rm(refuseFile(cluster, refusing));
  });
});

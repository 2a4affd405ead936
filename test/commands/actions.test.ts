// The commands that change the cluster (switchover, failover, restart, reload, reinit, pause,
// resume, edit-config, remove) against fake agents: what they send, refusals with the agent's text
// and exit 1, 401s, and the no-terminal rule (without --force they fail at once and send nothing).
// Needs `npm run build`.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MEMBER_STATUS, startFakeAgent, threeMemberCluster, type FakeAgent } from './fake-agent.js';
import { runCli } from './run-cli.js';

const CONFIG = { ttl: 30, loop_wait: 10, maximum_lag_on_failover: 1048576, postgresql: { parameters: { max_connections: 100 } } };

describe('hactl commands that act on the cluster (fake agents)', () => {
  let agent: FakeAgent;
  let dir: string;
  let api: string[];
  let leader = 'node1';

  const posts = () => agent.requests.filter((r) => r.method !== 'GET');

  before(async () => {
    agent = await startFakeAgent();
    dir = mkdtempSync(path.join(tmpdir(), 'hactl-cli-'));
    api = ['--api', agent.url];
  });

  after(async () => {
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    leader = 'node1';
    agent.requests.length = 0;
    agent.routes.clear();
    // /cluster follows the fake's idea of the leader, so "show the new topology" sees the switch.
    agent.routes.set('GET /cluster', () => {
      return { body: threeMemberCluster(agent.url, { leader }) };
    });
    agent.routes.set('GET /patroni', { body: MEMBER_STATUS });
    agent.routes.set('GET /config', { body: CONFIG });
  });

  describe('switchover and failover', () => {
    it('without a terminal and without --force fails at once, saying to pass --force, and sends nothing', async () => {
      // "At once" means without waiting for an answer (stdin is closed): a wait would hang until run-cli's bound.
      const r = await runCli(['switchover', ...api, '--candidate', 'node2']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^Error: .*there is no terminal to ask on; pass --force to switchover without asking\n$/);
      assert.deepEqual(posts(), []);
    });

    it('--force sends leader and candidate to the leader\'s agent and shows the new topology', async () => {
      agent.routes.set('POST /switchover', (req) => {
        leader = (req.body as { candidate: string }).candidate;
        return { body: `Successfully switched over to "${leader}"` };
      });
      const r = await runCli(['switchover', ...api, '--candidate', 'node2', '--force']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(posts().map((p) => [p.method, p.path, p.body]), [['POST', '/switchover', { leader: 'node1', candidate: 'node2' }]]);
      const lines = r.stdout.split('\n');
      assert.equal(lines[0], 'Current cluster topology');
      assert.match(r.stdout, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} Successfully switched over to "node2"$/m);
      assert.match(lines.slice(-4).join('\n'), /\| node2 {2}\| 127\.0\.0\.1:5434 \| Leader /);
    });

    it('a refusal prints the agent\'s reason and exits 1', async () => {
      agent.routes.set('POST /switchover', { status: 412, body: 'switchover is not possible: no good candidates have been found' });
      const r = await runCli(['switchover', ...api, '--force']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `Error: switchover failed: switchover is not possible: no good candidates have been found (HTTP 412 from ${agent.url})\n`);
    });

    it('a refusal with per-member reasons prints them under the agent\'s reason (issue 17)', async () => {
      agent.routes.set('POST /switchover', {
        status: 412,
        body: 'switchover is not possible: no good candidates have been found\nnode2: not reachable\nnode3: lag 3145728 bytes exceeds maximum_lag_on_failover 1048576',
      });
      const r = await runCli(['switchover', ...api, '--force']);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        `Error: switchover failed: switchover is not possible: no good candidates have been found (HTTP 412 from ${agent.url})\n` +
          '  node2: not reachable\n  node3: lag 3145728 bytes exceeds maximum_lag_on_failover 1048576\n',
      );
    });

    it('--dry-run asks GET /failover/candidates, prints the explanation, sends nothing, and exits 1 when nobody would take over', async () => {
      const explanation = (winner: string | null) => ({
        scope: 'demo',
        scenario: 'leader-lost',
        answered_by: 'node1',
        leader: 'node1',
        candidate: null,
        pause: false,
        winner,
        racers: winner ? [winner] : [],
        summary: winner ? `if the leader node1 failed now, ${winner} would take the leader key` : 'if the leader node1 failed now, no member would take the leader key',
        maximum_lag_on_failover: 1048576,
        last_primary_lsn: 50331648,
        cluster_timeline: 1,
        synchronous_mode: 'off',
        members: [
          { name: 'node1', role: 'primary', state: 'running', reachable: true, lsn: 50331648, lsn_text: '0/3000000', lag: 0, timeline: 1, failover_priority: 1, verdict: 'excluded', code: 'leader', reason: 'the current leader (this dry run assumes it failed)', log: [] },
          { name: 'node2', role: 'replica', state: 'running', reachable: true, lsn: 50331648, lsn_text: '0/3000000', lag: 0, timeline: 1, failover_priority: 1, verdict: winner ? 'winner' : 'excluded', code: winner ? null : 'paused', reason: winner ? null : 'the cluster is paused (maintenance mode): no automatic failover', log: [] },
        ],
      });
      agent.routes.set('GET /failover/candidates', { body: explanation('node2') });
      const ok = await runCli(['failover', ...api, '--dry-run']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /^Dry run \(nothing changed\): if the leader node1 failed now, node2 would take the leader key$/m);
      assert.match(ok.stdout, /\| node2 +\| replica +\| running +\| 0\/3000000 +\| +0 \| +1 \| +1 \| winner +\| +\|/);
      assert.deepEqual(posts(), []);
      agent.routes.set('GET /failover/candidates', { body: explanation(null) });
      const none = await runCli(['switchover', ...api, '--dry-run', '--candidate', 'node2', '-f', 'json']);
      assert.equal(none.code, 1);
      assert.equal(JSON.parse(none.stdout).winner, null);
      const asked = agent.requests.filter((q) => q.path === '/failover/candidates');
      assert.equal(asked.length, 2);
      assert.deepEqual(posts(), []);
    });

    it('a 401 says which credentials to set', async () => {
      agent.routes.set('POST /switchover', { status: 401, body: 'no auth header received' });
      const r = await runCli(['switchover', ...api, '--force']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^Error: switchover failed: no auth header received \(HTTP 401 from .*\); set ctl.authentication/);
    });

    it('refuses in patronictl words before sending anything', async () => {
      const already = await runCli(['switchover', ...api, '--candidate', 'node1', '--force']);
      assert.equal(already.stderr, 'Error: Member node1 is already the leader of cluster demo\n');
      const nofailover = await runCli(['switchover', ...api, '--candidate', 'node3', '--force']);
      assert.equal(nofailover.stderr, 'Error: Member node3 does not exist in cluster demo or is tagged as nofailover\n');
      const wrongPrimary = await runCli(['switchover', ...api, '--primary', 'node2', '--force']);
      assert.equal(wrongPrimary.stderr, 'Error: Member node2 is not the leader of cluster demo\n');
      const failover = await runCli(['failover', ...api, '--force']);
      assert.equal(failover.stderr, 'Error: Failover could be performed only to a specific candidate\n');
      for (const r of [already, nofailover, wrongPrimary, failover]) assert.equal(r.code, 1);
      assert.deepEqual(posts(), []);
    });

    it('schedules a switchover (202) and cancels it', async () => {
      agent.routes.set('POST /switchover', { status: 202, body: 'Switchover scheduled' });
      const r = await runCli(['switchover', ...api, '--candidate', 'node2', '--scheduled', '2030-01-01T02:00:00+00:00', '--force']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, / Switchover scheduled\n/);
      const body = posts()[0]!.body as { scheduled_at: string };
      assert.equal(Date.parse(body.scheduled_at), Date.parse('2030-01-01T02:00:00Z'));
      agent.routes.set('GET /cluster', { body: { ...threeMemberCluster(agent.url), scheduled_switchover: { at: body.scheduled_at, from: 'node1' } } });
      agent.routes.set('DELETE /switchover', { body: 'scheduled switchover deleted' });
      const c = await runCli(['switchover', ...api, '--cancel']);
      assert.equal(c.code, 0, c.stderr);
      assert.equal(c.stdout, 'Success: scheduled switchover deleted\n');
    });

    it('flush drops scheduled restarts per member and the scheduled switchover; nothing scheduled is no error', async () => {
      const cluster = threeMemberCluster(agent.url);
      cluster.members[1] = { ...cluster.members[1]!, scheduled_restart: { schedule: '2030-01-01T02:00:00+00:00' } } as (typeof cluster.members)[number];
      agent.routes.set('GET /cluster', { body: cluster });
      agent.routes.set('DELETE /restart', { body: 'scheduled restart deleted' });
      const r = await runCli(['flush', 'demo', 'node2', 'node3', 'restart', ...api]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'Success: flush scheduled restart for member node2\nNo scheduled restart for member node3\n');
      assert.deepEqual(posts().map((p) => `${p.method} ${p.path}`), ['DELETE /restart']);
      const none = await runCli(['flush', 'switchover', ...api]);
      assert.equal(none.code, 0, none.stderr);
      assert.equal(none.stdout, 'No pending scheduled switchover\n');
      agent.routes.set('GET /cluster', { body: { ...threeMemberCluster(agent.url), scheduled_switchover: { at: '2030-01-01T02:00:00+00:00', from: 'node1' } } });
      agent.routes.set('DELETE /switchover', { body: 'scheduled switchover deleted' });
      const sw = await runCli(['flush', 'switchover', ...api]);
      assert.equal(sw.stdout, 'Success: scheduled switchover deleted\n');
      const bad = await runCli(['flush', 'node2', ...api]);
      assert.equal(bad.code, 1);
      assert.equal(bad.stderr, 'Error: name what to flush last: restart or switchover\n');
    });

    it('failover --force sends the candidate', async () => {
      agent.routes.set('POST /failover', (req) => {
        leader = (req.body as { candidate: string }).candidate;
        return { body: `Successfully failed over to "${leader}"` };
      });
      const r = await runCli(['failover', ...api, '--candidate', 'node2', '--force']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(posts()[0]!.body, { candidate: 'node2' });
    });
  });

  describe('restart, reload, reinit', () => {
    it('restart MEMBER --force posts to that member and prints Success', async () => {
      agent.routes.set('POST /restart', { body: 'restarted successfully' });
      const r = await runCli(['restart', 'node2', ...api, '--force']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'Success: restart on member node2\n');
      assert.deepEqual(posts().map((p) => [p.path, p.body]), [['/restart', {}]]);
    });

    it('accepts patronictl\'s "restart CLUSTER MEMBER" and --pending', async () => {
      agent.routes.set('GET /cluster', () => {
        const c = threeMemberCluster(agent.url);
        (c.members[1] as { pending_restart?: boolean }).pending_restart = true;
        return { body: c };
      });
      agent.routes.set('POST /restart', { body: 'restarted successfully' });
      const r = await runCli(['restart', 'demo', ...api, '--pending', '--force']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'Success: restart on member node2\n');
      assert.deepEqual(posts()[0]!.body, { restart_pending: true });
    });

    it('a member that refuses makes the command fail after trying the others', async () => {
      agent.routes.set('POST /restart', { status: 503, body: 'restart conditions are not satisfied' });
      const r = await runCli(['restart', ...api, '--role', 'replica', '--force']);
      assert.equal(r.code, 1);
      assert.equal(posts().length, 2);
      assert.match(r.stderr, /Failed: restart for member node2: restart of node2 failed: restart conditions are not satisfied \(HTTP 503/);
      assert.match(r.stderr, /Error: restart failed for members node2, node3\n$/);
    });

    it('restart without --force and without a terminal fails before sending', async () => {
      const r = await runCli(['restart', 'node2', ...api]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /pass --force to restart without asking/);
      assert.deepEqual(posts(), []);
    });

    it('reload asks every member and says within how long', async () => {
      agent.routes.set('POST /reload', { status: 202, body: 'reload scheduled' });
      const r = await runCli(['reload', ...api, '--force']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.split('\n').filter((l) => l.startsWith('Reload request received for member')).length, 3);
      assert.match(r.stdout, /member node1 and will be processed within 10 seconds/);
    });

    it('reinit refuses the leader and needs member names with --force', async () => {
      const leaderReinit = await runCli(['reinit', 'node1', ...api, '--force']);
      assert.equal(leaderReinit.code, 1);
      assert.equal(leaderReinit.stderr, "Error: No 'replica' among provided members\n");
      const none = await runCli(['reinit', ...api, '--force']);
      assert.equal(none.code, 1);
      assert.equal(none.stderr, 'Error: name the members to reinitialize\n');
      const unknown = await runCli(['reinit', 'node9', ...api, '--force']);
      assert.equal(unknown.stderr, 'Error: node9 is not a member of cluster demo\n');
      assert.deepEqual(posts(), []);
    });

    it('reinit --force sends force and from_leader', async () => {
      agent.routes.set('POST /reinitialize', { body: 'reinitialize started' });
      const r = await runCli(['reinit', 'demo', 'node2', ...api, '--force', '--from-leader']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'Success: reinitialize for member node2\n');
      assert.deepEqual(posts()[0]!.body, { force: true, from_leader: true });
    });
  });

  describe('pause, resume, edit-config', () => {
    it('pause PATCHes {"pause": true} with the credentials of the config file', async () => {
      const file = path.join(dir, 'ha.yml');
      writeFileSync(file, `scope: demo\nrestapi:\n  connect_address: ${agent.url.slice('http://'.length)}\n  authentication: {username: admin, password: s3cret}\nctl:\n  authentication: {username: ctl, password: ctl-pass}\n`);
      agent.routes.set('PATCH /config', (req) => ({ body: { ...CONFIG, ...(req.body as object) } }));
      const r = await runCli(['pause', '-c', file]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'Success: cluster management is paused\n');
      const patch = posts()[0]!;
      assert.deepEqual(patch.body, { pause: true });
      assert.equal(patch.authorization, `Basic ${Buffer.from('ctl:ctl-pass').toString('base64')}`);
    });

    it('refuses to pause a paused cluster and to resume a running one', async () => {
      const paused = await runCli(['resume', ...api]);
      assert.equal(paused.code, 1);
      assert.equal(paused.stderr, 'Error: Cluster is not paused\n');
      agent.routes.set('GET /cluster', { body: threeMemberCluster(agent.url, { pause: true }) });
      const again = await runCli(['pause', ...api]);
      assert.equal(again.stderr, 'Error: Cluster is already paused\n');
      agent.routes.set('PATCH /config', { body: CONFIG });
      const resumed = await runCli(['resume', ...api]);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.deepEqual(posts().map((p) => p.body), [{ pause: null }]);
    });

    it('edit-config -p/-s --force shows the diff and sends only the change', async () => {
      agent.routes.set('PATCH /config', { body: CONFIG });
      const r = await runCli(['edit-config', ...api, '-p', 'max_connections=200', '-s', 'loop_wait=5', '--force']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^-loop_wait: 10\n\+loop_wait: 5$/m);
      assert.match(r.stdout, /^- {4}max_connections: 100\n\+ {4}max_connections: 200$/m);
      assert.match(r.stdout, /Configuration changed\n$/);
      assert.deepEqual(posts()[0]!.body, { loop_wait: 5, postgresql: { parameters: { max_connections: 200 } } });
    });

    it('edit-config warns on stderr about a key hactl ignores or does not know, and still sends the change', async () => {
      agent.routes.set('PATCH /config', { body: CONFIG });
      const r = await runCli(['edit-config', ...api, '-s', 'postgresql.parameters_primary.work_mem=8MB', '-s', 'maximum_lag_on_failovr=5', '-s', 'loop_wait=5', '--force']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Configuration changed\n$/);
      assert.equal(
        r.stderr,
        'Warning: postgresql.parameters_primary is ignored by hactl (role-specific settings are not applied: use parameters / pg_hba)\n' +
          'Warning: unknown key maximum_lag_on_failovr; did you mean maximum_lag_on_failover? (ignored)\n',
      );
      assert.deepEqual(posts()[0]!.body, { postgresql: { parameters_primary: { work_mem: '8MB' } }, maximum_lag_on_failovr: 5, loop_wait: 5 });
    });

    it('edit-config without --force and without a terminal fails before sending; Not changed when equal', async () => {
      const r = await runCli(['edit-config', ...api, '-s', 'loop_wait=5']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /pass --force/);
      const same = await runCli(['edit-config', ...api, '-s', 'loop_wait=10', '--force']);
      assert.equal(same.code, 0);
      assert.equal(same.stdout, 'Not changed\n');
      assert.deepEqual(posts(), []);
    });

    it('edit-config runs $EDITOR on the YAML and applies what was saved', async () => {
      const editor = path.join(dir, 'editor.sh');
      writeFileSync(editor, '#!/bin/sh\nsed -i "s/^ttl: 30/ttl: 40/" "$1"\n');
      chmodSync(editor, 0o755);
      agent.routes.set('PATCH /config', { body: CONFIG });
      const r = await runCli(['edit-config', ...api, '--force'], { env: { EDITOR: editor } });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(posts()[0]!.body, { ttl: 40 });
    });

    it('edit-config --apply - needs --force (stdin is the input) and reports concurrent changes', async () => {
      const noForce = await runCli(['edit-config', ...api, '--apply', '-'], { input: 'ttl: 40\n' });
      assert.equal(noForce.code, 1);
      assert.match(noForce.stderr, /^Error: Use --force option to apply changes/);
      agent.routes.set('PATCH /config', { status: 409, body: 'config was changed concurrently' });
      const conflict = await runCli(['edit-config', ...api, '--apply', '-', '--force'], { input: 'ttl: 40\npostgresql: {parameters: {work_mem: 8MB}}\n' });
      assert.equal(conflict.code, 1);
      assert.equal(conflict.stderr, 'Error: Config modification aborted due to concurrent changes\n');
      assert.deepEqual(posts()[0]!.body, { ttl: 40, postgresql: { parameters: { work_mem: '8MB' } } });
    });
  });

  describe('remove', () => {
    it('without a terminal and without --force fails at once', async () => {
      const r = await runCli(['remove', 'demo', ...api]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /pass --force to remove the cluster without asking/);
    });

    it('refuses a name that is not the agents\' cluster', async () => {
      const r = await runCli(['remove', 'other', ...api, '--force']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, 'Error: cluster other not found: the agents serve cluster demo\n');
    });
  });
});

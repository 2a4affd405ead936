import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ClusterJson, FailoverCandidatesJson, HistoryRow, MemberStatus } from '../../../src/protocol/index.js';
import { FakeAgent, clusterView, member, primaryStatus, replicaStatus, request, startApi, type Started } from './fixtures.js';

describe('state endpoints', () => {
  const agent = new FakeAgent();
  let api: Started;
  before(async () => {
    api = await startApi(agent, { extraHeaders: { 'X-Frame-Options': 'deny' } });
  });
  after(() => api.close());
  beforeEach(() => {
    agent.status = primaryStatus();
    agent.view = clusterView();
    agent.ha = { ...agent.ha, isLeader: true, paused: false };
  });

  it('GET /patroni is always 200 with the member status, the extra headers and our Server header', async () => {
    agent.status = replicaStatus();
    agent.ha = { ...agent.ha, isLeader: false };
    const res = await request(`${api.url}/patroni`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-frame-options'], 'deny');
    assert.equal(res.headers.server, 'hactl/0.1.0');
    const body = res.json<MemberStatus>();
    assert.equal(body.role, 'replica');
    assert.deepEqual(body.patroni, { version: '0.1.0', scope: 'demo', name: 'node2' });
  });

  it('GET /patroni marks pause from the HA snapshot', async () => {
    agent.ha = { ...agent.ha, paused: true };
    assert.equal((await request(`${api.url}/patroni`)).json<MemberStatus>().pause, true);
  });

  it('GET /cluster lists members sorted with roles, states, host/port and lag against the last primary LSN', async () => {
    agent.view = clusterView({
      members: [member('node3', { receivedLsn: 0x2000000n, replayedLsn: 0x1000000n, xlogLocation: 0x1000000n }), ...clusterView().members.slice(0, 2)],
      config: { data: { pause: true }, keyVersion: 4 },
      failover: { leader: 'node1', candidate: 'node2', scheduledAt: { text: '2030-01-01T00:00:00+00:00', ms: 0 }, keyVersion: 9 },
    });
    const body = (await request(`${api.url}/cluster`)).json<ClusterJson>();
    assert.equal(body.scope, 'demo');
    // hactl extension: the initialize key, so `hactl list` needs this one request.
    assert.equal(body.system_identifier, '7117556723320621508');
    assert.equal(body.pause, true);
    assert.deepEqual(body.scheduled_switchover, { at: '2030-01-01T00:00:00+00:00', from: 'node1', to: 'node2' });
    assert.deepEqual(
      body.members.map((m) => m.name),
      ['node1', 'node2', 'node3'],
    );
    assert.deepEqual(body.members[0], {
      name: 'node1',
      role: 'leader',
      state: 'running',
      api_url: 'http://127.0.0.1:8001/patroni',
      host: '127.0.0.1',
      port: 5431,
      timeline: 1,
    });
    assert.deepEqual(body.members[2], {
      name: 'node3',
      role: 'replica',
      state: 'streaming',
      api_url: 'http://127.0.0.1:8003/patroni',
      host: '127.0.0.1',
      port: 5433,
      timeline: 1,
      receive_lsn: '0/2000000',
      receive_lag: 0x1000060,
      replay_lsn: '0/1000000',
      replay_lag: 0x2000060,
      lsn: '0/1000000',
      lag: 0x2000060,
    });
  });

  it('GET /cluster shows sync standbys, unknown positions and replicas ahead of a stale primary LSN as lag 0', async () => {
    agent.view = clusterView({
      config: { data: { synchronous_mode: true }, keyVersion: 4 },
      sync: { leader: 'node1', syncStandbys: ['node2'], quorum: null, keyVersion: 1 },
      members: [
        member('node1', { role: 'primary' }),
        member('node2', { receivedLsn: 0x4000000n, replayedLsn: 0x4000000n, xlogLocation: 0x4000000n, tags: { nofailover: true } }),
        member('node3', { state: 'creating replica', replicationState: null, receivedLsn: null, replayedLsn: null, xlogLocation: null }),
      ],
    });
    const [, node2, node3] = (await request(`${api.url}/cluster`)).json<ClusterJson>().members;
    assert.equal(node2?.role, 'sync_standby');
    assert.equal(node2?.lag, 0);
    assert.deepEqual(node2?.tags, { nofailover: true });
    assert.equal(node3?.state, 'creating replica');
    assert.equal(node3?.lag, 'unknown');
    assert.equal(node3?.lsn, 'unknown');
  });

  it("GET /cluster carries each member's fence and watchdog words from its member key", async () => {
    agent.view = clusterView({
      members: [member('node1', { role: 'primary', fence: 'armed 4.2s', watchdog: 'active 25s' }), member('node2', { fence: 'on', watchdog: 'idle' }), member('node3')],
    });
    const [node1, node2, node3] = (await request(`${api.url}/cluster`)).json<ClusterJson>().members;
    assert.deepEqual([node1?.fence, node1?.watchdog], ['armed 4.2s', 'active 25s']);
    assert.deepEqual([node2?.fence, node2?.watchdog], ['on', 'idle']);
    assert.equal(node3 && ('fence' in node3 || 'watchdog' in node3), false, 'a member without them (Patroni, older hactl) has neither field');
  });

  it('GET /cluster answers 503 when the DCS cannot be read', async () => {
    agent.view = null;
    const res = await request(`${api.url}/cluster`);
    assert.deepEqual([res.status, res.text], [503, 'DCS is not accessible']);
  });

  it('GET /history returns the timeline switches as Patroni rows, [] when none', async () => {
    assert.deepEqual((await request(`${api.url}/history`)).json<HistoryRow[]>(), [
      [1, 0x3000000, 'no recovery target specified', '2026-11-25T10:00:00+00:00', 'node2'],
    ]);
    agent.view = clusterView({ history: null });
    assert.deepEqual((await request(`${api.url}/history`)).json(), []);
  });

  it('GET /config returns the dynamic config, 502 when the key is missing', async () => {
    assert.deepEqual((await request(`${api.url}/config`)).json(), clusterView().config?.data);
    agent.view = clusterView({ config: null });
    assert.equal((await request(`${api.url}/config`)).status, 502);
  });

  describe('GET /metrics', () => {
    it('is Prometheus text with Patroni metric names, HELP/TYPE lines and scope/name labels', async () => {
      agent.status = primaryStatus({ tags: { failover_priority: 3 } });
      const res = await request(`${api.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain/);
      const lines = res.text.trimEnd().split('\n');
      const samples = new Map<string, string>();
      for (const line of lines) {
        if (line.startsWith('#')) {
          assert.match(line, /^# (HELP|TYPE|Values:) /);
          continue;
        }
        const match = /^(patroni_[a-z_]+)\{scope="demo",name="node1"\} (-?[0-9.]+)$/.exec(line);
        assert.ok(match, `bad sample line: ${line}`);
        samples.set(match[1]!, match[2]!);
      }
      for (const name of samples.keys()) {
        assert.ok(lines.includes(`# TYPE ${name} ${/location|timeline/.test(name) ? 'counter' : 'gauge'}`), name);
      }
      assert.equal(samples.get('patroni_version'), '000100');
      assert.equal(samples.get('patroni_postgres_running'), '1');
      assert.equal(samples.get('patroni_primary'), '1');
      assert.equal(samples.get('patroni_replica'), '0');
      assert.equal(samples.get('patroni_xlog_location'), String(0x3000060));
      assert.equal(samples.get('patroni_postgres_server_version'), '160004');
      assert.equal(samples.get('patroni_postgres_timeline'), '1');
      assert.equal(samples.get('patroni_postgres_state'), '5');
      assert.equal(samples.get('patroni_cluster_unlocked'), '0');
      assert.equal(samples.get('patroni_failover_priority'), '3');
      assert.equal(samples.get('patroni_postmaster_start_time'), String(Date.parse('2026-11-25T10:00:00Z') / 1000));
      assert.equal(samples.get('patroni_postgres_streaming'), '0');
      assert.equal(samples.size, 25);
    });

    it('reports a replica and an unlocked cluster', async () => {
      agent.status = replicaStatus();
      agent.view = clusterView({ leader: null });
      const text = (await request(`${api.url}/metrics`)).text;
      assert.match(text, /^patroni_replica\{scope="demo",name="node1"\} 1$/m);
      assert.match(text, /^patroni_cluster_unlocked\{scope="demo",name="node1"\} 1$/m);
      assert.match(text, /^patroni_xlog_replayed_location\{scope="demo",name="node1"\} 50331744$/m);
      assert.match(text, /^patroni_postgres_streaming\{scope="demo",name="node1"\} 1$/m);
    });
  });

  it('GET /metrics reports failsafe_mode from the key, and from the loop while the store is down', async () => {
    agent.status = primaryStatus();
    const base = clusterView();
    agent.view = clusterView({ config: { ...base.config!, data: { ...base.config!.data, failsafe_mode: true } } });
    let text = (await request(`${api.url}/metrics`)).text;
    assert.match(text, /^patroni_failsafe_mode_enabled\{scope="demo",name="node1"\} 1$/m);
    assert.match(text, /^patroni_failsafe_mode_is_active\{scope="demo",name="node1"\} 0$/m);
    // The store is gone: no view, but the loop still knows the mode and that it keeps the primary alive.
    agent.view = null;
    agent.ha = { ...agent.ha, failsafeMode: true, failsafeActive: true };
    text = (await request(`${api.url}/metrics`)).text;
    assert.match(text, /^patroni_failsafe_mode_enabled\{scope="demo",name="node1"\} 1$/m);
    assert.match(text, /^patroni_failsafe_mode_is_active\{scope="demo",name="node1"\} 1$/m);
    const status = (await request(`${api.url}/primary`));
    assert.equal(status.status, 200, status.text);
    assert.equal((JSON.parse(status.text) as { failsafe_mode_is_active?: boolean }).failsafe_mode_is_active, true);
    delete agent.ha.failsafeMode;
    delete agent.ha.failsafeActive;
  });

  it('GET /failsafe answers the last known failsafe key, 502 without one; POST /failsafe answers Accepted with the lsn header', async () => {
    agent.failsafe = null;
    assert.equal((await request(`${api.url}/failsafe`)).status, 502);
    agent.failsafe = { node1: 'http://127.0.0.1:8008/patroni', node2: 'http://127.0.0.1:8009/patroni' };
    const got = await request(`${api.url}/failsafe`);
    assert.deepEqual([got.status, JSON.parse(got.text)], [200, agent.failsafe]);
    const posted = await request(`${api.url}/failsafe`, { method: 'POST', body: JSON.stringify({ name: 'node2', api_url: 'http://127.0.0.1:8009/patroni' }) });
    assert.deepEqual([posted.status, posted.text, posted.headers.lsn], [200, 'Accepted', '100']);
    assert.deepEqual(agent.calls.at(-1), { method: 'acceptFailsafe', arg: { name: 'node2', api_url: 'http://127.0.0.1:8009/patroni' } });
    agent.failsafeReply = { status: 500, text: 'Running as a leader' };
    const refused = await request(`${api.url}/failsafe`, { method: 'POST', body: '{"name":"node2"}' });
    assert.deepEqual([refused.status, refused.text, refused.headers.lsn ?? null], [500, 'Running as a leader', null]);
  });

  it('HEAD on the state endpoints answers their status code without a body', async () => {
    for (const path of ['/patroni', '/cluster', '/history', '/config', '/metrics']) {
      const res = await request(api.url + path, { method: 'HEAD' });
      assert.deepEqual([path, res.status, res.text], [path, 200, '']);
    }
  });

  it('survives malformed request targets and odd query strings', async () => {
    assert.equal((await request(`${api.url}/replica?lag=%ZZ&tag_=&&=`)).status, 503);
    assert.equal((await request(`${api.url}//patroni`)).status, 200);
  });
});

describe('GET /failover/candidates (issue 17)', () => {
  const agent = new FakeAgent();
  let api: Started;
  before(async () => {
    api = await startApi(agent);
  });
  after(() => api.close());
  beforeEach(() => {
    agent.view = clusterView();
    agent.calls.length = 0;
  });

  it('answers the agent\'s explanation for the automatic race, without a refusal', async () => {
    const res = await request(`${api.url}/failover/candidates`);
    assert.equal(res.status, 200, res.text);
    const body = res.json<FailoverCandidatesJson>();
    assert.equal(body.summary, 'no member would take the leader key');
    assert.equal(body.refusal, undefined);
    assert.deepEqual(agent.calls.map((c) => [c.method, (c.arg as { candidate: string | null; kind: string }).candidate, (c.arg as { kind: string }).kind]), [['failoverCandidates', null, 'failover']]);
  });

  it('adds what POST /failover would refuse up front for that candidate (Patroni\'s code and text)', async () => {
    const body = (await request(`${api.url}/failover/candidates?candidate=nobody`)).json<FailoverCandidatesJson>();
    assert.deepEqual(body.refusal, { status: 412, text: 'candidate does not exists' });
    const switchover = (await request(`${api.url}/failover/candidates?candidate=node1&kind=switchover`)).json<FailoverCandidatesJson>();
    assert.deepEqual(switchover.refusal, { status: 400, text: 'Switchover target and source are the same' });
  });

  it('refuses an unknown kind (400), and other /failover paths stay health checks as in Patroni', async () => {
    const bad = await request(`${api.url}/failover/candidates?kind=promote`);
    assert.equal(bad.status, 400);
    assert.match(bad.text, /kind must be failover or switchover/);
    const health = await request(`${api.url}/failover`);
    const root = await request(`${api.url}/no-such-endpoint`);
    assert.deepEqual([health.status, health.json<MemberStatus>().role], [root.status, root.json<MemberStatus>().role]);
    assert.deepEqual(agent.calls, []);
  });

  it('503 without a cluster view', async () => {
    agent.view = null;
    assert.equal((await request(`${api.url}/failover/candidates`)).status, 503);
  });
});

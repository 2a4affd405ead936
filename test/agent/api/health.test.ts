import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FakeAgent, NOW_MS, clusterView, primaryStatus, replicaStatus, request, startApi, stoppedStatus, type Started } from './fixtures.js';

const PATHS = [
  '/',
  '/primary',
  '/read-write',
  '/master',
  '/leader',
  '/standby-leader',
  '/replica',
  '/read-only',
  '/sync',
  '/synchronous',
  '/async',
  '/asynchronous',
  '/health',
  '/read-only-sync',
] as const;

describe('health checks', () => {
  const agent = new FakeAgent();
  let api: Started;
  before(async () => {
    api = await startApi(agent);
  });
  after(() => api.close());

  async function codes(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const path of PATHS) out[path] = (await request(api.url + path)).status;
    return out;
  }

  it('a running primary holding the lock answers 200 on the leader checks, 503 on the replica ones', async () => {
    agent.status = primaryStatus();
    agent.view = clusterView();
    agent.ha = { ...agent.ha, isLeader: true };
    assert.deepEqual(await codes(), {
      '/': 200,
      '/primary': 200,
      '/read-write': 200,
      '/master': 200,
      '/leader': 200,
      '/standby-leader': 503,
      '/replica': 503,
      '/read-only': 200,
      '/sync': 503,
      '/synchronous': 503,
      '/async': 503,
      '/asynchronous': 503,
      '/health': 200,
      '/read-only-sync': 200,
    });
  });

  it('a streaming replica answers 200 on replica, read-only, async and health', async () => {
    agent.status = replicaStatus();
    agent.view = clusterView();
    agent.ha = { ...agent.ha, isLeader: false };
    assert.deepEqual(await codes(), {
      '/': 503,
      '/primary': 503,
      '/read-write': 503,
      '/master': 503,
      '/leader': 503,
      '/standby-leader': 503,
      '/replica': 200,
      '/read-only': 200,
      '/sync': 503,
      '/synchronous': 503,
      '/async': 200,
      '/asynchronous': 200,
      '/health': 200,
      '/read-only-sync': 503,
    });
  });

  it('a sync standby (listed in the sync key, synchronous_mode on) answers /sync 200 and /async 503', async () => {
    agent.status = replicaStatus();
    agent.view = clusterView({
      config: { data: { synchronous_mode: true }, keyVersion: 4 },
      sync: { leader: 'node1', syncStandbys: ['node2'], quorum: null, keyVersion: 1 },
    });
    agent.ha = { ...agent.ha, isLeader: false };
    const c = await codes();
    assert.equal(c['/sync'], 200);
    assert.equal(c['/synchronous'], 200);
    assert.equal(c['/read-only-sync'], 200);
    assert.equal(c['/async'], 503);
    const body = (await request(`${api.url}/sync`)).json<{ sync_standby?: boolean }>();
    assert.equal(body.sync_standby, true);
  });

  it('a stopped member fails every check, health included, and still describes itself', async () => {
    agent.status = stoppedStatus();
    agent.view = clusterView();
    agent.ha = { ...agent.ha, isLeader: false };
    for (const code of Object.values(await codes())) assert.equal(code, 503);
    const res = await request(`${api.url}/health`);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(res.json(), stoppedStatus());
  });

  it('the sync and async checks fail when the DCS is unreachable', async () => {
    agent.status = replicaStatus();
    agent.view = null;
    agent.ha = { ...agent.ha, isLeader: false };
    assert.equal((await request(`${api.url}/async`)).status, 503);
    assert.equal((await request(`${api.url}/replica`)).status, 200);
    const body = (await request(`${api.url}/replica`)).json<{ cluster_unlocked?: boolean }>();
    assert.equal(body.cluster_unlocked, true);
  });

  it('paused with the DCS unreachable, the leader checks trust the PostgreSQL role', async () => {
    agent.status = primaryStatus();
    agent.view = null;
    agent.ha = { ...agent.ha, isLeader: false, paused: true };
    assert.equal((await request(`${api.url}/primary`)).status, 200);
    assert.equal((await request(`${api.url}/leader`)).status, 200);
    agent.ha = { ...agent.ha, paused: false };
    assert.equal((await request(`${api.url}/primary`)).status, 503);
  });

  it('in a standby cluster the leader answers /standby-leader and /leader, not /primary', async () => {
    agent.status = replicaStatus({ role: 'standby_leader' });
    agent.view = clusterView({ config: { data: { standby_cluster: { host: '10.0.0.9', port: 5432 } }, keyVersion: 4 } });
    agent.ha = { ...agent.ha, isLeader: true };
    assert.equal((await request(`${api.url}/standby-leader`)).status, 200);
    assert.equal((await request(`${api.url}/standby_leader`)).status, 200);
    assert.equal((await request(`${api.url}/leader`)).status, 200);
    assert.equal((await request(`${api.url}/primary`)).status, 503);
    assert.equal((await request(`${api.url}/replica`)).status, 503);
    assert.equal((await request(`${api.url}/read-only`)).status, 200);
  });

  describe('query parameters', () => {
    before(() => {
      agent.view = clusterView(); // last known primary LSN 0x3000060
      agent.ha = { ...agent.ha, isLeader: false, paused: false };
    });

    it('?lag= accepts bytes and units and fails a replica that lags more', async () => {
      // replayed 1 MiB + 0x60 behind the primary
      agent.status = replicaStatus({
        xlog: { received_location: 0x3000060, replayed_location: 0x3000060 - 1048576 - 0x60, replayed_timestamp: null, paused: false },
      });
      assert.equal((await request(`${api.url}/replica`)).status, 200, 'no lag limit');
      assert.equal((await request(`${api.url}/replica?lag=1048576`)).status, 503);
      assert.equal((await request(`${api.url}/replica?lag=1MB`)).status, 503);
      assert.equal((await request(`${api.url}/replica?lag=2MB`)).status, 200);
      assert.equal((await request(`${api.url}/replica?lag=2mb`)).status, 200, 'units are case-insensitive');
      assert.equal((await request(`${api.url}/replica?lag=1100kB`)).status, 200);
      assert.equal((await request(`${api.url}/asynchronous?lag=16kB`)).status, 503);
      assert.equal((await request(`${api.url}/replica?lag=lots`)).status, 200, 'an invalid value means no limit, as Patroni');
      assert.equal((await request(`${api.url}/replica?lag=`)).status, 200);
    });

    it('?lag= also counts the wal receiver latest_end_lsn as the primary position', async () => {
      agent.status = replicaStatus();
      agent.ha = { ...agent.ha, latestEndLsn: 0x3000060 + 10 * 1048576 };
      assert.equal((await request(`${api.url}/replica?lag=1MB`)).status, 503);
      agent.ha = { ...agent.ha, latestEndLsn: null };
      assert.equal((await request(`${api.url}/replica?lag=1MB`)).status, 200);
    });

    it('?replication_state= must match', async () => {
      agent.status = replicaStatus({ replication_state: 'in archive recovery' });
      assert.equal((await request(`${api.url}/replica?replication_state=streaming`)).status, 503);
      agent.status = replicaStatus();
      assert.equal((await request(`${api.url}/replica?replication_state=streaming`)).status, 200);
    });

    it('?tag_key=value must match the member tags; leader checks ignore tags', async () => {
      agent.status = replicaStatus({ tags: { zone: 'eu-1', nosync: true } });
      assert.equal((await request(`${api.url}/replica?tag_zone=eu-1`)).status, 200);
      assert.equal((await request(`${api.url}/replica?tag_zone=us-2`)).status, 503);
      assert.equal((await request(`${api.url}/replica?tag_rack=r1`)).status, 503, 'a missing tag fails');
      assert.equal((await request(`${api.url}/replica?tag_nosync=true`)).status, 200, 'non-strings compare as lower-case text');
      agent.status = primaryStatus({ tags: { zone: 'eu-1' } });
      agent.ha = { ...agent.ha, isLeader: true };
      assert.equal((await request(`${api.url}/primary?tag_zone=us-2`)).status, 200);
      agent.ha = { ...agent.ha, isLeader: false };
    });

    it('noloadbalance takes a replica out of /replica and /read-only', async () => {
      agent.status = replicaStatus({ tags: { noloadbalance: true } });
      assert.equal((await request(`${api.url}/replica`)).status, 503);
      assert.equal((await request(`${api.url}/read-only`)).status, 503);
      assert.equal((await request(`${api.url}/health`)).status, 200);
    });
  });

  describe('HEAD and OPTIONS', () => {
    it('answer the status code only, without a body', async () => {
      agent.status = primaryStatus();
      agent.view = clusterView();
      agent.ha = { ...agent.ha, isLeader: true };
      for (const method of ['HEAD', 'OPTIONS']) {
        const ok = await request(`${api.url}/primary`, { method });
        assert.equal(ok.status, 200);
        assert.equal(ok.text, '');
        assert.equal(ok.headers['content-type'], undefined);
        const no = await request(`${api.url}/replica`, { method });
        assert.equal(no.status, 503);
        assert.equal(no.text, '');
      }
    });
  });

  it('an unknown GET path is a failed health check with the status body (Patroni)', async () => {
    agent.status = primaryStatus();
    const res = await request(`${api.url}/no-such-thing`);
    assert.equal(res.status, 503);
    assert.equal(res.json<{ role: string }>().role, 'primary');
  });

  describe('/liveness and /readiness', () => {
    it('liveness is 200 while the loop is on time, 503 when it is ttl late on a primary (2×ttl on a replica)', async () => {
      agent.status = primaryStatus();
      agent.ha = { ...agent.ha, paused: false, nextRunAtMs: NOW_MS - 29_000 };
      assert.equal((await request(`${api.url}/liveness`)).status, 200);
      agent.ha = { ...agent.ha, nextRunAtMs: NOW_MS - 31_000 };
      const late = await request(`${api.url}/liveness`);
      assert.equal(late.status, 503);
      assert.equal(late.text, '');
      agent.status = replicaStatus();
      assert.equal((await request(`${api.url}/liveness`)).status, 200);
      agent.ha = { ...agent.ha, paused: true };
      agent.status = primaryStatus();
      assert.equal((await request(`${api.url}/liveness`)).status, 200, 'paused: a stuck loop is fine');
      agent.ha = { ...agent.ha, paused: false, nextRunAtMs: NOW_MS };
    });

    it('readiness: the leader is ready; a replica must run, stream and be within the lag', async () => {
      agent.view = clusterView();
      agent.ha = { ...agent.ha, isLeader: true };
      agent.status = primaryStatus();
      assert.equal((await request(`${api.url}/readiness`)).status, 200);
      agent.ha = { ...agent.ha, isLeader: false };
      agent.status = replicaStatus();
      assert.equal((await request(`${api.url}/readiness`)).status, 200);
      agent.status = replicaStatus({ replication_state: 'in archive recovery' });
      const notStreaming = await request(`${api.url}/readiness`);
      assert.equal(notStreaming.status, 503);
      assert.equal(notStreaming.text, 'PostgreSQL replication state is not streaming');
      agent.status = stoppedStatus();
      assert.equal((await request(`${api.url}/readiness`)).text, 'PostgreSQL is not running');
      agent.status = replicaStatus({
        xlog: { received_location: 0x3000060, replayed_location: 0x1000000, replayed_timestamp: null, paused: false },
      });
      const lagging = await request(`${api.url}/readiness`);
      assert.equal(lagging.status, 503, 'default limit = maximum_lag_on_failover (1 MiB)');
      assert.match(lagging.text, /^Replication apply lag 33554528 exceeds maximum allowable 1048576$/);
      assert.equal((await request(`${api.url}/readiness?lag=64MB`)).status, 200);
      assert.equal((await request(`${api.url}/readiness?mode=write`)).status, 200, 'write mode looks at received_location');
      assert.equal((await request(`${api.url}/readiness`, { method: 'HEAD' })).text, '');
    });
  });
});

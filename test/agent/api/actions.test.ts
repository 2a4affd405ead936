import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DcsUnavailable } from '../../../src/dcs/index.js';
import { ApiError } from '../../../src/agent/api/types.js';
import type { RestartRequest, SwitchoverRequest } from '../../../src/agent/api/types.js';
import { FakeAgent, basic, clusterView, member, request, startApi, type Started } from './fixtures.js';

const AUTH = { username: 'admin', password: 's3cret' };
const OK = { Authorization: basic('admin', 's3cret') };

/** Sends `text` as is and returns everything the server answers until it closes. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (out += d));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('raw request timed out')));
  });
}

function post(api: Started, path: string, body?: unknown, headers: Record<string, string> = OK) {
  return request(api.url + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('action endpoints', () => {
  const agent = new FakeAgent();
  const errors: unknown[] = [];
  let api: Started;
  before(async () => {
    api = await startApi(agent, { authentication: AUTH, maxBodyBytes: 4096, logError: (_m, e) => errors.push(e) });
  });
  after(() => api.close());
  beforeEach(() => {
    agent.calls = [];
    agent.results = {};
    agent.view = clusterView();
    agent.ha = { ...agent.ha, paused: false };
  });

  describe('authentication', () => {
    it('refuses an unsafe request without credentials: 401, Patroni text, WWW-Authenticate', async () => {
      const res = await post(api, '/reload', undefined, {});
      assert.equal(res.status, 401);
      assert.equal(res.text, 'no auth header received');
      assert.equal(res.headers['www-authenticate'], 'Basic realm="hactl"');
      assert.equal(agent.calls.length, 0);
    });

    it('refuses wrong credentials and non-Basic schemes', async () => {
      for (const header of [basic('admin', 'wrong'), basic('root', 's3cret'), 'Bearer abc', 'Basic', 'Basic !!!']) {
        const res = await post(api, '/reload', undefined, { Authorization: header });
        assert.equal(res.status, 401, header);
        assert.equal(res.text, 'not authenticated');
      }
      assert.equal(agent.calls.length, 0);
    });

    it('accepts the configured credentials', async () => {
      const res = await post(api, '/reload');
      assert.equal(res.status, 202);
      assert.equal(res.text, 'reload scheduled');
      assert.deepEqual(agent.calls, [{ method: 'reload', arg: undefined }]);
    });

    it('checks credentials before looking at the body', async () => {
      const res = await post(api, '/switchover', '{not json', {});
      assert.equal(res.status, 401);
    });

    it('never asks for credentials on GET', async () => {
      assert.equal((await request(`${api.url}/patroni`)).status, 200);
      assert.equal((await request(`${api.url}/cluster`)).status, 200);
    });

    it('picks up new credentials on reload', async () => {
      api.server.reload({ authentication: { username: 'admin', password: 'rotated' } });
      assert.equal((await post(api, '/reload')).status, 401);
      assert.equal((await post(api, '/reload', undefined, { Authorization: basic('admin', 'rotated') })).status, 202);
      api.server.reload({ authentication: AUTH });
    });
  });

  describe('request bodies', () => {
    it('answers malformed JSON with 400 and a one-line reason', async () => {
      const res = await post(api, '/switchover', '{"leader": ');
      assert.equal(res.status, 400);
      assert.match(res.text, /^request body is not valid JSON: /);
      assert.doesNotMatch(res.text, /\n/);
    });

    it('refuses non-object and empty bodies where one is required', async () => {
      assert.match((await post(api, '/switchover', '[1,2]')).text, /must be a JSON object, not an array/);
      assert.equal((await post(api, '/switchover', '"x"')).status, 400);
      assert.equal((await post(api, '/switchover', '{}')).status, 400);
      assert.equal((await post(api, '/switchover', '')).status, 400);
    });

    it('answers 411 when a required body is not declared at all (no Content-Length, not chunked)', async () => {
      const raw = await rawRequest(api.port, `POST /switchover HTTP/1.1\r\nHost: x\r\nAuthorization: ${OK.Authorization}\r\nConnection: close\r\n\r\n`);
      assert.match(raw, /^HTTP\/1\.1 411 /);
      // Node's client declares an empty body (Content-Length: 0): that is a bad request, as in Patroni
      assert.equal((await post(api, '/switchover')).status, 400);
    });

    it('survives garbage on the socket', async () => {
      const raw = await rawRequest(api.port, 'NOT HTTP AT ALL\r\n\r\n');
      assert.match(raw, /^HTTP\/1\.1 400 /);
      assert.equal((await request(`${api.url}/patroni`)).status, 200);
    });

    it('answers 413 for a body over the limit and keeps serving', async () => {
      const res = await post(api, '/config', JSON.stringify({ big: 'x'.repeat(10_000) }));
      assert.equal(res.status, 501, 'POST /config is not a route');
      const big = await request(`${api.url}/config`, {
        method: 'PATCH',
        headers: OK,
        body: JSON.stringify({ big: 'x'.repeat(10_000) }),
      });
      assert.equal(big.status, 413);
      assert.equal((await request(`${api.url}/patroni`)).status, 200);
    });

    it('answers 413 for an oversized chunked body (no Content-Length)', async () => {
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(`${api.url}/config`, { method: 'PATCH', headers: OK, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.write('{"a":"');
        req.write('y'.repeat(8000));
        req.end('"}');
      });
      assert.equal(status, 413);
    });

    it('answers 501 for methods and paths it does not serve', async () => {
      const res = await request(`${api.url}/patroni`, { method: 'DELETE', headers: OK });
      assert.equal(res.status, 501);
      assert.match(res.text, /^Unsupported method \('DELETE'\)/);
      assert.equal((await post(api, '/nothing')).status, 501);
    });
  });

  describe('POST /switchover and /failover', () => {
    const cases: Array<[string, string, unknown, number, string]> = [
      ['failover without candidate', '/failover', { foo: 'bar' }, 400, 'Failover could be performed only to a specific candidate'],
      ['switchover without leader', '/switchover', { candidate: 'node2' }, 400, 'Switchover could be performed only from a specific leader'],
      ['scheduled failover', '/failover', { candidate: 'node2', scheduled_at: '2030-01-01T00:00:00Z' }, 400, "Failover can't be scheduled"],
      ['schedule without zone', '/switchover', { leader: 'node1', scheduled_at: '2030-01-01T00:00:00' }, 400, 'Timezone information is mandatory for the scheduled switchover'],
      ['schedule in the past', '/switchover', { leader: 'node1', scheduled_at: '2020-01-01T00:00:00+00:00' }, 422, 'Cannot schedule switchover in the past'],
      ['unparsable schedule', '/switchover', { leader: 'node1', scheduled_at: 'tomorrow-ish' }, 422, 'Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601'],
      ['same source and target', '/switchover', { leader: 'node1', candidate: 'node1' }, 400, 'Switchover target and source are the same'],
      ['wrong leader', '/switchover', { leader: 'node2', candidate: 'node3' }, 412, 'leader name does not match'],
      ['unknown candidate', '/switchover', { leader: 'node1', candidate: 'node9' }, 412, 'candidate does not exists'],
      ['unknown failover candidate', '/failover', { candidate: 'node9' }, 412, 'candidate does not exists'],
    ];
    for (const [what, path, body, status, text] of cases) {
      it(`${what}: ${status} ${text}`, async () => {
        const res = await post(api, path, body);
        assert.deepEqual([res.status, res.text], [status, text]);
        assert.equal(agent.calls.length, 0);
      });
    }

    it('a leader-only cluster: 412 cluster does not have members except leader', async () => {
      agent.view = clusterView({ members: [member('node1', { role: 'primary' })] });
      const res = await post(api, '/switchover', { leader: 'node1' });
      assert.deepEqual([res.status, res.text], [412, 'switchover is not possible: cluster does not have members except leader']);
    });

    it('synchronous mode: the candidate must be the sync standby', async () => {
      agent.view = clusterView({
        config: { data: { synchronous_mode: true }, keyVersion: 4 },
        sync: { leader: 'node1', syncStandbys: ['node2'], quorum: null, keyVersion: 1 },
      });
      const res = await post(api, '/switchover', { leader: 'node1', candidate: 'node3' });
      assert.deepEqual([res.status, res.text], [412, 'candidate name does not match with sync_standby']);
      await post(api, '/switchover', { leader: 'node1' });
      assert.deepEqual((agent.calls[0]?.arg as SwitchoverRequest).membersToCheck, ['node2']);
    });

    it('paused: a candidate is required and nothing can be scheduled', async () => {
      agent.view = clusterView({ config: { data: { pause: true }, keyVersion: 4 } });
      assert.equal((await post(api, '/switchover', { leader: 'node1' })).text, 'Switchover is possible only to a specific candidate in a paused state');
      assert.equal(
        (await post(api, '/switchover', { leader: 'node1', candidate: 'node2', scheduled_at: '2030-01-01T00:00:00Z' })).text,
        "Can't schedule switchover in the paused state",
      );
    });

    it('hands a valid immediate switchover to the agent and returns its answer', async () => {
      const res = await post(api, '/switchover', { leader: 'node1', candidate: 'node2' });
      assert.deepEqual([res.status, res.text], [200, 'Successfully switched over to "node2"']);
      assert.deepEqual(agent.calls, [
        {
          method: 'requestSwitchover',
          arg: { action: 'switchover', leader: 'node1', candidate: 'node2', scheduledAt: null, membersToCheck: ['node2'] },
        },
      ]);
    });

    it('without a candidate the agent must ask every non-leader with an API URL', async () => {
      await post(api, '/switchover', { leader: 'node1' });
      assert.deepEqual((agent.calls[0]?.arg as SwitchoverRequest).membersToCheck, ['node2', 'node3']);
    });

    it('passes a scheduled switchover with its parsed time and the agent answer 202', async () => {
      agent.results.requestSwitchover = { status: 202, text: 'Switchover scheduled' };
      const res = await post(api, '/switchover', { leader: 'node1', candidate: 'node2', scheduled_at: '2030-01-01T01:00:00+01:00' });
      assert.deepEqual([res.status, res.text], [202, 'Switchover scheduled']);
      const req = agent.calls[0]?.arg as SwitchoverRequest;
      assert.equal(req.scheduledAt?.ms, Date.parse('2030-01-01T00:00:00Z'));
      assert.deepEqual(req.membersToCheck, []);
    });

    it('a failover that names the leader becomes a switchover; `member` and `primary` are aliases', async () => {
      await post(api, '/failover', { primary: 'node1', member: 'node3' });
      assert.equal(agent.calls[0]?.method, 'requestFailover');
      assert.deepEqual(agent.calls[0]?.arg, {
        action: 'switchover',
        leader: 'node1',
        candidate: 'node3',
        scheduledAt: null,
        membersToCheck: ['node3'],
      });
    });

    it('answers the agent refusals as they are (412 no good candidates, 503 key write)', async () => {
      agent.results.requestSwitchover = new ApiError(412, 'switchover is not possible: no good candidates have been found');
      const res = await post(api, '/switchover', { leader: 'node1' });
      assert.deepEqual([res.status, res.text], [412, 'switchover is not possible: no good candidates have been found']);
    });

    it('503 when the DCS cannot be read for an immediate request', async () => {
      agent.view = null;
      const res = await post(api, '/switchover', { leader: 'node1', candidate: 'node2' });
      assert.deepEqual([res.status, res.text], [503, 'DCS is not accessible']);
    });

    it('DELETE /switchover passes the agent answer through', async () => {
      agent.results.cancelSwitchover = { status: 200, text: 'scheduled switchover deleted' };
      const res = await request(`${api.url}/switchover`, { method: 'DELETE', headers: OK });
      assert.deepEqual([res.status, res.text], [200, 'scheduled switchover deleted']);
    });
  });

  describe('POST /restart', () => {
    const cases: Array<[unknown, number, string]> = [
      [{ role: 'leader' }, 400, 'PostgreSQL role should be either primary, standby_leader, or replica'],
      [{ timeout: 0 }, 400, 'Timeout should be a positive number of seconds'],
      [{ timeout: 'soon' }, 400, 'Timeout should be a positive number of seconds'],
      [{ postgres_version: '9.6' }, 400, 'Invalid PostgreSQL major version format: X.Y or X.Y.Z is accepted: 9.6'],
      [{ postgres_version: 'x.1' }, 400, 'Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: x.1'],
      [{ when: 'now' }, 400, 'Unknown filter for the scheduled restart: when'],
      [{ schedule: '2020-01-01T00:00:00Z' }, 422, 'Cannot schedule restart in the past'],
    ];
    for (const [body, status, text] of cases) {
      it(`${JSON.stringify(body)} → ${status} ${text}`, async () => {
        const res = await post(api, '/restart', body);
        assert.deepEqual([res.status, res.text], [status, text]);
        assert.equal(agent.calls.length, 0);
      });
    }

    it('an empty body is an unconditional restart', async () => {
      const res = await post(api, '/restart');
      assert.deepEqual([res.status, res.text], [200, 'restarted successfully']);
      assert.deepEqual(agent.calls[0]?.arg, {
        restartPending: null,
        role: null,
        postgresVersion: null,
        postgresVersionNum: null,
        timeoutSeconds: null,
        schedule: null,
      });
    });

    it('normalises the filters for the agent', async () => {
      await post(api, '/restart', { role: 'master', postgres_version: '16.4', timeout: '2min', restart_pending: true, schedule: '2030-06-01T00:00:00Z' });
      const req = agent.calls[0]?.arg as RestartRequest;
      assert.equal(req.role, 'primary');
      assert.equal(req.postgresVersionNum, 160004);
      assert.equal(req.timeoutSeconds, 120);
      assert.equal(req.restartPending, true);
      assert.equal(req.schedule?.ms, Date.parse('2030-06-01T00:00:00Z'));
    });

    it("paused: 500 Can't schedule restart in the paused state", async () => {
      agent.view = clusterView({ config: { data: { pause: true }, keyVersion: 4 } });
      const res = await post(api, '/restart', { schedule: '2030-06-01T00:00:00Z' });
      assert.deepEqual([res.status, res.text], [500, "Can't schedule restart in the paused state"]);
    });

    it('DELETE /restart passes the agent answer through', async () => {
      const res = await request(`${api.url}/restart`, { method: 'DELETE', headers: OK });
      assert.deepEqual([res.status, res.text], [404, 'no restarts are scheduled']);
    });
  });

  describe('POST /reinitialize, config, errors', () => {
    it('reinitialize reads force and from_leader (and from-leader)', async () => {
      await post(api, '/reinitialize');
      await post(api, '/reinitialize', { force: true, 'from-leader': 'yes' });
      assert.deepEqual(
        agent.calls.map((c) => c.arg),
        [
          { force: false, fromLeader: false },
          { force: true, fromLeader: true },
        ],
      );
      agent.results.reinitialize = { status: 503, text: 'I am the leader, can not reinitialize' };
      const res = await post(api, '/reinitialize');
      assert.deepEqual([res.status, res.text], [503, 'I am the leader, can not reinitialize']);
    });

    it('PATCH and PUT /config answer the agent JSON', async () => {
      const patched = await request(`${api.url}/config`, { method: 'PATCH', headers: OK, body: '{"pause":true}' });
      assert.equal(patched.status, 200);
      assert.equal(patched.headers['content-type'], 'application/json');
      assert.equal(patched.json<{ pause: boolean }>().pause, true);
      const put = await request(`${api.url}/config`, { method: 'PUT', headers: OK, body: '{"ttl":20}' });
      assert.deepEqual(put.json(), { ttl: 20 });
      assert.deepEqual(
        agent.calls.map((c) => c.method),
        ['patchConfig', 'putConfig'],
      );
    });

    it('maps DcsUnavailable to 503 and unexpected errors to 500, and keeps serving', async () => {
      agent.results.reload = new DcsUnavailable('write config');
      const dcs = await post(api, '/reload');
      assert.deepEqual([dcs.status, dcs.text], [503, 'DCS is not accessible: could not write config']);
      agent.results.reload = new Error('boom\nwith a second line');
      const crash = await post(api, '/reload');
      assert.deepEqual([crash.status, crash.text], [500, 'internal error: boom with a second line']);
      assert.equal(errors.length, 1);
      assert.equal((await request(`${api.url}/patroni`)).status, 200);
    });
  });
});

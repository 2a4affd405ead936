// Refusing a second agent with the same member name (Patroni: "Can't start; there is already a
// node named 'X' running"), against a real HTTP listener standing in for the live namesake.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { duplicateMemberProblem } from '../../src/agent/duplicate.js';
import { freePort } from '../helpers/net.js';
import type { ClusterView, Member } from '../../src/dcs/index.js';

function viewWith(apiUrl: string | null): ClusterView {
  const member = { name: 'db1', keyVersion: 1, role: 'replica', state: 'running', apiUrl, connUrl: null, version: null, timeline: 1, xlogLocation: null, receivedLsn: null, replayedLsn: null, replicationState: null, tags: {}, pendingRestart: false } as Member;
  return { initialize: '1', config: null, leader: null, members: [member], history: null, failover: null, sync: null, status: { lastLsn: null, slots: {}, retainSlots: [] } };
}

describe('duplicate member name at start-up', () => {
  let server: http.Server;
  let port: number;
  before(async () => {
    server = http.createServer((req, res) => res.writeHead(req.url === '/liveness' ? 200 : 404).end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('refuses when a member of the same name answers /liveness', async () => {
    const problem = await duplicateMemberProblem(viewWith(`http://127.0.0.1:${port}/patroni`), 'db1');
    assert.equal(problem, "Can't start; there is already a node named 'db1' running");
  });

  it('starts when the namesake is a leftover key whose API does not answer', async () => {
    assert.equal(await duplicateMemberProblem(viewWith(`http://127.0.0.1:${await freePort()}/patroni`), 'db1'), null);
  });

  it('starts when no member has the name', async () => {
    assert.equal(await duplicateMemberProblem(viewWith(`http://127.0.0.1:${port}/patroni`), 'db2'), null);
  });
});

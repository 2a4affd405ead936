import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clusterReadiness } from '../../src/demo/readiness.js';

const primary = (streaming: string[]) => ({ role: 'primary', state: 'running', replication: streaming.map((application_name) => ({ application_name, state: 'streaming' })) });
const replica = { role: 'replica', state: 'running' };

describe('demo readiness: one leader and N−1 streaming replicas', () => {
  it('is ready when the only primary lists every other member as streaming', () => {
    const r = clusterReadiness([
      { name: 'node1', status: replica },
      { name: 'node2', status: primary(['node1', 'node3']) },
      { name: 'node3', status: replica },
    ]);
    assert.deepEqual(r, { ready: true, leader: 'node2', streaming: ['node1', 'node3'], waitingFor: '' });
  });

  it('waits for a replica that is still catching up, naming it', () => {
    const r = clusterReadiness([
      { name: 'node1', status: primary(['node2']) },
      { name: 'node2', status: replica },
      { name: 'node3', status: { role: 'uninitialized', state: 'creating replica' } },
    ]);
    assert.equal(r.ready, false);
    assert.equal(r.waitingFor, 'node3 to stream from node1');
  });

  it('waits for a leader while members do not answer yet, and never accepts two primaries', () => {
    assert.equal(clusterReadiness([{ name: 'node1', status: null }, { name: 'node2', status: replica }]).waitingFor, 'a leader (no answer yet from node1)');
    const two = clusterReadiness([{ name: 'node1', status: primary(['node2']) }, { name: 'node2', status: primary(['node1']) }]);
    assert.equal(two.ready, false);
    assert.equal(two.waitingFor, 'one leader, not 2');
  });

  it('a single member is ready as soon as it runs as primary', () => {
    assert.equal(clusterReadiness([{ name: 'node1', status: primary([]) }]).ready, true);
  });

  it('does not count a walsender in catchup or one of an unknown name', () => {
    const r = clusterReadiness([
      { name: 'node1', status: { role: 'primary', state: 'running', replication: [{ application_name: 'node2', state: 'catchup' }, { application_name: 'pg_basebackup', state: 'streaming' }] } },
      { name: 'node2', status: replica },
    ]);
    assert.equal(r.ready, false);
  });
});

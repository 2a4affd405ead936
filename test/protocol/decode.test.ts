// The one decoder of REST bodies (src/protocol/decode.ts), as the CLI and the agent's peer reads
// meet them: Patroni's older wording and number formats are accepted, what callers rely on is checked.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeClusterJson, decodeHistory, decodeJson, decodeMemberStatus, InvalidAgentResponse } from '../../src/protocol/index.js';

const SRC = 'http://127.0.0.1:8008';

describe('REST body decoder', () => {
  it("reads a Patroni 3.0 member status: `master` is the primary, LSNs as numbers or decimal text", () => {
    const status = decodeMemberStatus({ state: 'running', role: 'master', xlog: { location: '67108960' }, timeline: 2, tags: { nofailover: true } }, SRC);
    assert.equal(status.role, 'primary');
    assert.deepEqual(status.xlog, { location: 67108960 });
    assert.equal(status.timeline, 2);
    assert.deepEqual(status.tags, { nofailover: true });
    const replica = decodeMemberStatus({ state: 'running', role: 'replica', xlog: { received_location: 100, replayed_location: null, paused: false } }, SRC);
    assert.deepEqual(replica.xlog, { received_location: 100, replayed_location: null, paused: false });
  });

  it('drops fields it cannot read instead of passing them on with the wrong type', () => {
    const status = decodeMemberStatus({ role: 'replica', xlog: { received_location: -1 }, timeline: 'two', tags: [1], watchdog_failed: 'yes' }, SRC);
    assert.equal(status.xlog, undefined, 'an unreadable position makes the whole xlog unknown');
    assert.equal(status.timeline, undefined);
    assert.equal(status.tags, undefined);
    assert.equal(status.watchdog_failed, undefined);
    assert.equal(status.state, 'unknown', 'a missing state reads as unknown');
    assert.equal(decodeMemberStatus({ state: 'stopped' }, SRC).role, 'uninitialized');
  });

  it('refuses a body that is no member status, naming the agent', () => {
    assert.throws(() => decodeMemberStatus({ hello: 1 }, SRC), (err: unknown) => err instanceof InvalidAgentResponse && /127\.0\.0\.1:8008.*neither state nor role/.test(err.message));
    assert.throws(() => decodeMemberStatus([], SRC), InvalidAgentResponse);
    assert.throws(() => decodeJson('<html>', SRC), /not JSON: "<html>"/);
  });

  it('reads /cluster with Patroni’s `master` as the leader and refuses members without a name', () => {
    const cluster = decodeClusterJson({ members: [{ name: 'a', role: 'master' }, { name: 'b', role: 'replica', state: 'streaming' }] }, SRC);
    assert.deepEqual(
      cluster.members.map((m) => [m.name, m.role, m.state]),
      [
        ['a', 'leader', ''],
        ['b', 'replica', 'streaming'],
      ],
    );
    assert.equal(cluster.scope, '');
    assert.throws(() => decodeClusterJson({ members: [{ role: 'replica' }] }, SRC), /member without name or role/);
    assert.throws(() => decodeClusterJson({}, SRC), /no "members" list/);
  });

  it('reads /history as rows', () => {
    assert.deepEqual(decodeHistory([[1, 100, 'no recovery target specified']], SRC), [[1, 100, 'no recovery target specified']]);
    assert.throws(() => decodeHistory({}, SRC), /not a list of rows/);
  });
});

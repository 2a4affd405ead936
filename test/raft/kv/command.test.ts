import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkClientCommand, decodeCommand, encodeCommand, KvCommandError } from '../../../src/raft/kv/command.js';
import type { ClientCommand, ExpireCommand } from '../../../src/raft/kv/types.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('kv command encoding', () => {
  it('round-trips every kind of command, with and without a client session', () => {
    const inputs: (ClientCommand | ExpireCommand)[] = [
      { clientId: 'agent-a', seq: 1, command: { op: 'set', key: '/leader', value: 'a', ttlMs: 30_000, ifVersion: 0 } },
      { clientId: 'agent-a', seq: 2, command: { op: 'set', key: '/leader', value: 'a', ttlMs: 30_000, ifValue: 'a' } },
      { clientId: 'ctl', seq: 9, command: { op: 'delete', key: '/failover', ifVersion: 12 } },
      { clientId: 'ctl', seq: 10, command: { op: 'deletePrefix', prefix: '/service/batman' } },
      { op: 'expire', key: '/leader', version: 41 },
      { clientId: 'ctl', seq: 11, command: { op: 'set', key: '/k', value: 'ünïcødé ✓' } },
    ];
    for (const input of inputs) assert.deepEqual(decodeCommand(encodeCommand(input)), input);
  });

  it('drops a null ttl (same meaning as none) and keeps the decoded object free of extra fields', () => {
    const decoded = decodeCommand(encodeCommand({ clientId: 'c', seq: 1, command: { op: 'set', key: '/k', value: 'v', ttlMs: null } }));
    assert.deepEqual(decoded, { clientId: 'c', seq: 1, command: { op: 'set', key: '/k', value: 'v' } });
  });

  it('rejects malformed data with a clear KvCommandError', () => {
    const cases: [string | Uint8Array, RegExp][] = [
      ['not json', /not valid UTF-8 JSON/],
      [new Uint8Array([0x7b, 0xff, 0x7d]), /not valid UTF-8 JSON/],
      ['[1,2]', /not a JSON object/],
      ['{"cmd":{"op":"set","key":"/k","value":"v"}}', /format version undefined/],
      ['{"v":1,"cmd":{"op":"set","key":"/k","value":"v"}}', /set without a client session/],
      ['{"v":1,"c":"x","s":1,"cmd":{"op":"expire","key":"/leader","version":3}}', /expire is proposed by the Raft leader only/],
      ['{"v":2,"cmd":{}}', /format version 2/],
      ['{"v":1,"cmd":{"op":"rm -rf"}}', /unknown op "rm -rf"/],
      ['{"v":1,"cmd":{"op":"toString"}}', /unknown op/],
      ['{"v":1,"cmd":{"op":"set","key":"","value":"v"}}', /key must be a non-empty string/],
      ['{"v":1,"cmd":{"op":"set","key":"/k","value":3}}', /value must be a string/],
      ['{"v":1,"cmd":{"op":"set","key":"/k","value":"v","ttlMs":-1}}', /ttlMs must be a positive number/],
      ['{"v":1,"cmd":{"op":"set","key":"/k","value":"v","ifVersion":1.5}}', /ifVersion must be an integer/],
      ['{"v":1,"cmd":{"op":"set","key":"/k","value":"v","prevExist":false}}', /unexpected field "prevExist"/],
      ['{"v":1,"cmd":{"op":"expire","key":"/k","version":0}}', /positive integer version/],
      ['{"v":1,"c":"x","cmd":{"op":"delete","key":"/k"}}', /seq must be a positive integer/],
      ['{"v":1,"c":"","s":1,"cmd":{"op":"delete","key":"/k"}}', /clientId must be a non-empty string/],
    ];
    for (const [data, message] of cases) {
      assert.throws(() => decodeCommand(typeof data === 'string' ? enc(data) : data), (err: unknown) => {
        assert.ok(err instanceof KvCommandError, `${String(data)}: ${String(err)}`);
        assert.match(err.message, message);
        return true;
      });
    }
  });

  it('refuses to encode an invalid command, so it never reaches the log', () => {
    assert.throws(() => encodeCommand({ clientId: 'c', seq: 0, command: { op: 'delete', key: '/k' } }), KvCommandError);
    assert.throws(() => encodeCommand({ clientId: 'c', seq: 1, command: { op: 'set', key: '/k', value: 'v', ttlMs: Number.NaN } }), KvCommandError);
  });

  it('refuses expire from a client at the boundary: only the leader ends a lease', () => {
    const forged = { op: 'expire', key: '/service/batman/leader', version: 7 };
    assert.throws(() => checkClientCommand(forged), /expire is proposed by the Raft leader only/);
    assert.throws(() => encodeCommand({ clientId: 'c', seq: 1, command: forged as never }), /expire is proposed by the Raft leader only/);
  });
});

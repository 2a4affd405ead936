// What hactl writes and passes for backup tools, as Patroni does: the arguments of a custom replica
// method (bootstrap.py create_replica) and of a custom bootstrap (_custom_bootstrap), and the recovery
// settings of a replica (build_recovery_params: recovery_conf minus targets; nostream: no streaming)
// and of a restored backup (every recovery setting, recovery.signal).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildParameters } from '../../src/postgres/conf.js';
import { customBootstrapArgs } from '../../src/postgres/custom-bootstrap.js';
import { replicaMethodArgs } from '../../src/postgres/replica.js';
import type { PostgresOptions } from '../../src/postgres/types.js';

const base: PostgresOptions = {
  name: 'node1',
  scope: 'batman',
  data_dir: '/var/lib/pg/data',
  listen: '127.0.0.1:5432',
  authentication: { superuser: { username: 'postgres' }, replication: { username: 'replicator' } },
};
const leader = { host: '10.0.0.2', port: 5432, slotName: 'node1' };

describe('backup tool arguments and recovery settings', () => {
  it('passes a replica method its own keys, then --scope --role --datadir --connstring (booleans as Python prints them)', () => {
    const fixed = { scope: 'batman', datadir: '/d', connstring: 'host=x' };
    assert.deepEqual(replicaMethodArgs({ command: 'wal-g', keep_data: true, no_leader: true, stanza: 'main' }, fixed), [
      '--keep_data=True',
      '--no_leader=True',
      '--stanza=main',
      '--scope=batman',
      '--role=replica',
      '--datadir=/d',
      '--connstring=host=x',
    ]);
    assert.deepEqual(replicaMethodArgs({ command: 'x', no_params: true, keep_data: false, no_master: true, stanza: 'main' }, fixed), ['--stanza=main']);
  });

  it('passes a custom bootstrap --scope and --datadir, then its other keys; recovery_conf and the flags are not arguments', () => {
    const method = { name: 'restore', command: 'r', keep_existing_recovery_conf: true, recovery_conf: { restore_command: 'x' }, stanza: 'main', verbose: true };
    assert.deepEqual(customBootstrapArgs(method, 'batman', '/d'), ['--scope=batman', '--datadir=/d', '--stanza=main', '--verbose=True']);
    assert.deepEqual(customBootstrapArgs({ ...method, no_params: true }, 'batman', '/d'), ['--stanza=main', '--verbose=True']);
  });

  it("writes a replica's recovery_conf without recovery targets or streaming keys; nostream drops primary_conninfo and the slot", () => {
    const recovery_conf = { restore_command: 'cp /a/%f %p', recovery_min_apply_delay: '5min', recovery_target_time: '2024-01-01', primary_conninfo: 'host=evil' };
    const p = buildParameters({ ...base, recovery_conf }, { role: 'replica', primary: leader }, 15);
    assert.equal(p.get('restore_command'), "'cp /a/%f %p'");
    assert.equal(p.get('recovery_min_apply_delay'), "'5min'");
    assert.equal(p.get('recovery_target_time'), undefined);
    assert.match(p.get('primary_conninfo')!, /host=''10\.0\.0\.2''/);
    const nostream = buildParameters({ ...base, recovery_conf, nostream: true }, { role: 'replica', primary: leader }, 15);
    assert.equal(nostream.get('primary_conninfo'), undefined);
    assert.equal(nostream.get('primary_slot_name'), undefined);
    assert.equal(nostream.get('restore_command'), "'cp /a/%f %p'");
    assert.equal(buildParameters({ ...base, recovery_conf }, { role: 'primary' }, 15).get('restore_command'), undefined, 'a primary has no recovery settings');
  });

  it('writes every recovery setting of a restored backup, targets included', () => {
    const p = buildParameters(base, { role: 'primary', recovery: { restore_command: 'cp /a/%f %p', recovery_target_action: 'promote', recovery_target_time: '2024-01-01' } }, 15);
    assert.equal(p.get('recovery_target_action'), "'promote'");
    assert.equal(p.get('recovery_target_time'), "'2024-01-01'");
  });
});

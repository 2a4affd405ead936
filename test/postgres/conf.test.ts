import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  MANAGED_MARKER,
  buildParameters,
  buildPrimaryConninfo,
  changedParameters,
  droppedParameters,
  formatParameterValue,
  needsRestart,
  parseConfSettings,
  pgpassEntries,
  postmasterOptions,
  renderPgHba,
  renderPgpass,
  renderPostgresqlConf,
  sanitizeAutoConf,
} from '../../src/postgres/conf.js';
import type { PostgresOptions } from '../../src/postgres/types.js';

const base: PostgresOptions = {
  name: 'srv-1',
  scope: 'demo',
  data_dir: '/data/pg',
  listen: '127.0.0.1,10.0.0.1:5433',
  connect_address: '10.0.0.1:5433',
  socketDir: '/run/hactl',
  pgpass: '/var/lib/hactl/pgpass',
  authentication: {
    superuser: { username: 'postgres', password: 'su:pw' },
    replication: { username: 'replicator', password: 'rep' },
    rewind: { username: 'rewinder', password: 'rw\\x' },
  },
  parameters: { shared_buffers: '256MB', max_connections: 200, log_connections: true, port: 9999 },
};

describe('postgresql.conf generation', () => {
  it('renders values as postgresql.conf expects', () => {
    assert.equal(formatParameterValue(true), 'on');
    assert.equal(formatParameterValue(false), 'off');
    assert.equal(formatParameterValue(42), '42');
    assert.equal(formatParameterValue("it's"), "'it''s'");
    assert.equal(formatParameterValue('C:\\dir'), "'C:\\\\dir'");
  });

  it('merges replication defaults, user parameters and per-node settings for a primary', () => {
    const p = buildParameters(base, { role: 'primary' }, 15);
    assert.equal(p.get('wal_level'), "'replica'");
    assert.equal(p.get('hot_standby'), "'on'");
    assert.equal(p.get('max_wal_senders'), '10');
    assert.equal(p.get('max_replication_slots'), '10');
    assert.equal(p.get('wal_keep_size'), "'128MB'");
    assert.equal(p.get('max_connections'), '200', 'user parameters override defaults');
    assert.equal(p.get('shared_buffers'), "'256MB'");
    assert.equal(p.get('log_connections'), 'on');
    assert.equal(p.get('listen_addresses'), "'127.0.0.1,10.0.0.1'");
    assert.equal(p.get('port'), '5433', 'port comes from listen, never from parameters');
    assert.equal(p.get('unix_socket_directories'), "'/run/hactl'");
    assert.equal(p.get('cluster_name'), "'demo'");
    assert.equal(p.has('wal_log_hints'), false, 'only with use_pg_rewind');
    assert.equal(p.has('primary_conninfo'), false);
    assert.equal(p.has('hba_file'), false, 'config_dir is the data dir');
    assert.deepEqual(droppedParameters(base), ['port']);
  });

  it('turns on wal_log_hints for pg_rewind and refuses wal_level minimal', () => {
    const p = buildParameters({ ...base, use_pg_rewind: true, parameters: { wal_level: 'minimal', archive_mode: 'on', archive_command: 'cp %p /arch/%f' } }, { role: 'primary' }, 15);
    assert.equal(p.get('wal_log_hints'), "'on'");
    assert.equal(p.get('wal_level'), "'replica'");
    assert.equal(p.get('archive_mode'), "'on'");
    assert.equal(p.get('archive_command'), "'cp %p /arch/%f'");
    const logical = buildParameters({ ...base, parameters: { wal_level: 'logical' } }, { role: 'primary' }, 15);
    assert.equal(logical.get('wal_level'), "'logical'");
  });

  it('points hba/ident files and data_directory at config_dir when it is separate', () => {
    const p = buildParameters({ ...base, config_dir: '/etc/hactl/pg' }, { role: 'primary' }, 15);
    assert.equal(p.get('hba_file'), "'/etc/hactl/pg/pg_hba.conf'");
    assert.equal(p.get('ident_file'), "'/etc/hactl/pg/pg_ident.conf'");
    assert.equal(p.get('data_directory'), "'/data/pg'");
  });

  it('adds standby settings for a replica: primary_conninfo with passfile and application_name, slot, latest timeline', () => {
    const p = buildParameters(base, { role: 'replica', primary: { host: '10.0.0.2', port: 5432, slotName: 'srv_1' } }, 15);
    const conninfo = buildPrimaryConninfo(base, { host: '10.0.0.2', port: 5432 });
    assert.equal(
      conninfo,
      "user='replicator' passfile='/var/lib/hactl/pgpass' host='10.0.0.2' port='5432' sslmode='prefer' application_name='srv-1'",
    );
    assert.doesNotMatch(conninfo, /password/, 'the password stays in the pgpass file');
    assert.equal(p.get('primary_conninfo'), formatParameterValue(conninfo));
    assert.equal(p.get('primary_slot_name'), "'srv_1'");
    assert.equal(p.get('recovery_target_timeline'), "'latest'");
    const noPrimary = buildParameters(base, { role: 'replica', primary: null, restoreCommand: 'cp /arch/%f %p' }, 15);
    assert.equal(noPrimary.has('primary_conninfo'), false);
    assert.equal(noPrimary.get('restore_command'), "'cp /arch/%f %p'");
  });

  it('quotes conninfo values containing quotes and backslashes', () => {
    const odd = { ...base, name: "it's\\me" };
    assert.match(buildPrimaryConninfo(odd, { host: 'h', port: 1 }), /application_name='it\\'s\\\\me'/);
  });

  it('rejects bad parameter names and old major versions', () => {
    assert.throws(() => buildParameters({ ...base, parameters: { 'a b': 1 } }, { role: 'primary' }, 15), /not a valid parameter name/);
    assert.throws(() => buildParameters(base, { role: 'primary' }, 11), /not supported/);
  });

  it('renders a marked file that includes the base conf and reads back the same settings', () => {
    const p = buildParameters(base, { role: 'primary' }, 15);
    const text = renderPostgresqlConf(p, true);
    assert.ok(text.startsWith(MANAGED_MARKER));
    assert.match(text, /^include 'postgresql.base.conf'$/m);
    assert.deepEqual(parseConfSettings(text), p);
    assert.doesNotMatch(renderPostgresqlConf(p, false), /include/);
  });
});

describe('restart detection', () => {
  it('lists changed settings and those needing a restart', () => {
    const before = buildParameters(base, { role: 'primary' }, 15);
    const after = buildParameters({ ...base, parameters: { ...base.parameters, shared_buffers: '512MB', work_mem: '8MB' } }, { role: 'primary' }, 15);
    const changed = changedParameters(before, after);
    assert.deepEqual(changed, ['shared_buffers', 'work_mem']);
    assert.deepEqual(needsRestart(changed), ['shared_buffers']);
    assert.deepEqual(needsRestart(['max_connections', 'wal_level', 'Port', 'primary_conninfo', 'log_min_duration_statement']), ['max_connections', 'wal_level', 'Port']);
  });
});

describe('postgresql.auto.conf', () => {
  it('drops recovery settings pg_basebackup -R wrote, keeps ALTER SYSTEM settings', () => {
    const text = "# Do not edit\nwork_mem = '8MB'\nprimary_conninfo = 'host=old'\nprimary_slot_name='x'\n";
    const { text: out, removed } = sanitizeAutoConf(text);
    assert.deepEqual(removed, ['primary_conninfo', 'primary_slot_name']);
    assert.equal(out, "# Do not edit\nwork_mem = '8MB'\n");
  });
});

describe('pg_hba.conf', () => {
  it('leaves the file alone when no lines are configured', () => {
    assert.equal(renderPgHba(base), null);
  });

  it('writes configured lines and adds a replication line when none admits replication', () => {
    const text = renderPgHba({ ...base, pg_hba: ['local all all trust', 'host all all 0.0.0.0/0 scram-sha-256'] })!;
    const lines = text.trim().split('\n');
    assert.equal(lines[0], MANAGED_MARKER);
    assert.equal(lines[1], 'local all all trust');
    assert.equal(lines.at(-1), 'host replication replicator all md5');
    const own = renderPgHba({ ...base, pg_hba: ['host replication replicator 10.0.0.0/8 scram-sha-256'] })!;
    assert.doesNotMatch(own, /added by hactl/);
  });

  it('takes legacy bootstrap.pg_hba when postgresql.pg_hba is absent', () => {
    assert.match(renderPgHba(base, { pg_hba: ['host all all all md5'] })!, /host all all all md5/);
  });
});

describe('pgpass', () => {
  it('escapes : and \\ and writes one wildcard line per user with a password', () => {
    const text = renderPgpass(pgpassEntries(base));
    assert.equal(text, '*:*:*:postgres:su\\:pw\n*:*:*:replicator:rep\n*:*:*:rewinder:rw\\\\x\n');
    assert.equal(renderPgpass([{ host: 'h:1', port: 5432, database: 'db', user: 'u', password: 'p' }]), 'h\\:1:5432:db:u:p\n');
  });

  it('skips users without a password and duplicates', () => {
    const opts = { ...base, authentication: { superuser: { username: 'postgres' }, replication: { username: 'r', password: 'x' }, rewind: { username: 'r', password: 'x' } } };
    assert.deepEqual(pgpassEntries(opts), [{ user: 'r', password: 'x' }]);
  });
});

describe('postmaster command line', () => {
  it('shell-quotes -c settings for pg_ctl -o', () => {
    assert.equal(postmasterOptions({ port: '5432', config_file: "/a b/it's" }), "-c 'port=5432' -c 'config_file=/a b/it'\\''s'");
  });
});

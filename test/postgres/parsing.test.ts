import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatLsn, lsnDiffBytes, parseLsn, parseLsnOrNull } from '../../src/postgres/lsn.js';
import { isCleanShutdown, parseControlData } from '../../src/postgres/controldata.js';
import { candidateBinDirs, parsePostgresVersion } from '../../src/postgres/binaries.js';
import { parseListen } from '../../src/postgres/context.js';
import { PostgresConfigError } from '../../src/postgres/errors.js';

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`fixtures/${name}`, import.meta.url)), 'utf8');

describe('LSNs', () => {
  it('parses and formats the way PostgreSQL prints them', () => {
    assert.equal(parseLsn('0/D9000000'), 0xd9000000n);
    assert.equal(parseLsn('16/B374D848'), (0x16n << 32n) | 0xb374d848n);
    assert.equal(parseLsn('0/3000060'), 0x3000060n);
    assert.equal(formatLsn(0xd9000000n), '0/D9000000');
    assert.equal(formatLsn((0x16n << 32n) | 0xb374d848n), '16/B374D848');
    assert.equal(formatLsn(0n), '0/0');
    for (const text of ['0/0', 'FFFFFFFF/FFFFFFFF', 'A/1']) assert.equal(formatLsn(parseLsn(text)), text);
  });

  it('accepts lower case and rejects garbage', () => {
    assert.equal(parseLsn('a/b'), 0xa0000000bn);
    for (const bad of ['', '0', '0/', '/0', '0/123456789', 'x/1', '0/1/2']) assert.throws(() => parseLsn(bad), /not an LSN/);
    assert.equal(parseLsnOrNull(null), null);
    assert.equal(parseLsnOrNull(''), null);
  });

  it('never reports negative lag', () => {
    assert.equal(lsnDiffBytes(100n, 40n), 60n);
    assert.equal(lsnDiffBytes(40n, 100n), 0n);
    assert.throws(() => formatLsn(-1n));
  });
});

describe('pg_controldata', () => {
  it('parses a PostgreSQL 15 control file of a cleanly shut down primary', () => {
    const data = parseControlData(fixture('controldata-15-shutdown.txt'));
    assert.equal(data.clusterState, 'shut down');
    assert.match(data.systemIdentifier, /^\d{15,20}$/);
    assert.equal(data.timeline, 1);
    assert.equal(data.prevTimeline, 1);
    assert.equal(typeof data.checkpointLsn, 'bigint');
    assert.equal(data.minRecoveryEndLsn, 0n);
    assert.equal(data.walLevel, 'replica');
    assert.equal(data.dataChecksumVersion, 0);
    assert.equal(data.raw['Bytes per WAL segment'], '16777216');
    assert.ok(isCleanShutdown(data));
  });

  it('parses a standby in recovery on a later timeline', () => {
    const text = [
      'Database system identifier:           7300000000000000001',
      'Database cluster state:               in archive recovery',
      'Latest checkpoint location:           1/2A000060',
      "Latest checkpoint's REDO location:    1/2A000028",
      "Latest checkpoint's TimeLineID:       3",
      "Latest checkpoint's PrevTimeLineID:   3",
      'Minimum recovery ending location:     1/2B0000A0',
      "Min recovery ending loc's timeline:   3",
      'wal_log_hints setting:                on',
      'Data page checksum version:           1',
    ].join('\n');
    const data = parseControlData(text);
    assert.equal(data.systemIdentifier, '7300000000000000001');
    assert.equal(data.checkpointLsn, 0x12a000060n);
    assert.equal(data.redoLsn, 0x12a000028n);
    assert.equal(data.timeline, 3);
    assert.equal(data.minRecoveryEndLsn, 0x12b0000a0n);
    assert.equal(data.minRecoveryEndTimeline, 3);
    assert.ok(data.walLogHints);
    assert.equal(data.dataChecksumVersion, 1);
    assert.ok(!isCleanShutdown(data));
  });

  it('refuses output without the essential fields (e.g. a translated pg_controldata)', () => {
    assert.throws(() => parseControlData('Zustand des Datenbankclusters: heruntergefahren\n'), /lacks "Database cluster state"/);
  });
});

describe('binaries and listen addresses', () => {
  it('reads the version from postgres --version', () => {
    assert.deepEqual(parsePostgresVersion('postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n'), { version: '15.18', majorVersion: 15 });
    assert.deepEqual(parsePostgresVersion('postgres (PostgreSQL) 17beta1'), { version: '17', majorVersion: 17 });
    assert.throws(() => parsePostgresVersion('bash: postgres: not found'), /cannot parse/);
  });

  it('searches PATH, then Debian and RHEL locations newest first', async () => {
    const dirs = await candidateBinDirs('/opt/pg/bin:/usr/bin', '/nonexistent-root');
    assert.deepEqual(dirs, ['/opt/pg/bin', '/usr/bin']);
    const real = await candidateBinDirs('', '/');
    assert.ok(real.includes('/usr/lib/postgresql/15/bin'));
  });

  it('parses listen as host[,host]:port', () => {
    assert.deepEqual(parseListen('127.0.0.1:5432'), { hosts: ['127.0.0.1'], port: 5432 });
    assert.deepEqual(parseListen('127.0.0.1, 10.0.0.1:6000'), { hosts: ['127.0.0.1', '10.0.0.1'], port: 6000 });
    assert.deepEqual(parseListen('[::1]:5432'), { hosts: ['::1'], port: 5432 });
    assert.deepEqual(parseListen('*:5432'), { hosts: ['*'], port: 5432 });
    assert.throws(() => parseListen('localhost'), PostgresConfigError);
    assert.throws(() => parseListen(':5432'), /names no host/);
    assert.throws(() => parseListen('h:70000'), /out of range/);
  });
});

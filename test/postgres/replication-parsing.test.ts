// Pure parts of replica creation: pg_basebackup options, its progress output and its error messages.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { basebackupArgs, errorsLast } from '../../src/postgres/basebackup.js';
import { BasebackupProgressParser, type BasebackupProgress } from '../../src/postgres/basebackup-progress.js';

describe('basebackupArgs', () => {
  it('turns flags and key/value maps into long options, as Patroni does', () => {
    assert.deepEqual(basebackupArgs([{ checkpoint: 'fast' }, { 'max-rate': '100M' }, 'no-verify-checksums', { '--label': 'hactl' }]), [
      '--checkpoint=fast',
      '--max-rate=100M',
      '--no-verify-checksums',
      '--label=hactl',
    ]);
    assert.deepEqual(basebackupArgs({ checkpoint: 'fast', 'no-sync': true, compress: false }), ['--checkpoint=fast', '--no-sync']);
    assert.deepEqual(basebackupArgs(undefined), ['--checkpoint=fast']);
    assert.deepEqual(basebackupArgs([{ 'max-rate': '100M' }]), ['--checkpoint=fast', '--max-rate=100M']);
    assert.deepEqual(basebackupArgs([{ checkpoint: 'spread' }]), ['--checkpoint=spread']);
    // Patroni's example postgres1.yml asks for `verbose`, which hactl passes anyway: accepted, passed once.
    assert.deepEqual(basebackupArgs(['verbose', { 'max-rate': '100M' }]), ['--checkpoint=fast', '--max-rate=100M']);
    assert.deepEqual(basebackupArgs({ progress: true }), ['--checkpoint=fast']);
  });

  it('refuses options hactl sets itself and malformed items', () => {
    assert.throws(() => basebackupArgs([{ 'wal-method': 'fetch' }]), /option wal-method is set by hactl/);
    assert.throws(() => basebackupArgs(['pgdata']), /option pgdata is set by hactl/);
    assert.throws(() => basebackupArgs([{ a: '1', b: '2' }]), /exactly one key/);
    assert.throws(() => basebackupArgs(['bad flag']), /not an option name/);
  });
});

describe('BasebackupProgressParser', () => {
  it('reports phases and increasing bytes from --progress --verbose output, with \\r or \\n line ends', () => {
    const seen: BasebackupProgress[] = [];
    const parser = new BasebackupProgressParser((p) => seen.push(p));
    parser.push('pg_basebackup: initiating base backup, waiting for checkpoint to complete\npg_basebackup: checkpoint completed\n');
    parser.push('pg_basebackup: write-ahead log start point: 0/2000028 on timeline 1\n');
    parser.push('  1024/45000 kB (2%), 0/1 tablespace (data/base/1/1259)\r 20480/45000 kB (45%), 0/1 tablespace (data/base/5/16384)\r');
    parser.push('45000/45000 kB (100%), 0/1 tab'); // a line split across chunks
    parser.push('lespace (data/global/pg_control)\n45000/45000 kB (100%), 1/1 tablespace\n');
    parser.push('pg_basebackup: write-ahead log end point: 0/2000100\npg_basebackup: syncing data to disk ...\npg_basebackup: base backup completed\n');
    parser.end();
    assert.deepEqual(
      seen.map((p) => `${p.phase} ${p.doneBytes / 1024}/${p.totalBytes / 1024}`),
      ['copying 0/0', 'copying 1024/45000', 'copying 20480/45000', 'copying 45000/45000', 'finishing-wal 45000/45000', 'syncing 45000/45000', 'done 45000/45000'],
    );
    assert.match(parser.messageText, /base backup completed/);
    assert.doesNotMatch(parser.messageText, /kB/);
  });

  it('never reports a total below what was already copied (the server estimate can be low)', () => {
    const seen: BasebackupProgress[] = [];
    const parser = new BasebackupProgressParser((p) => seen.push(p));
    parser.push('300/200 kB (100%), 0/1 tablespace\n');
    assert.deepEqual(seen[0], { phase: 'copying', doneBytes: 300 * 1024, totalBytes: 300 * 1024 });
  });
});

describe('errorsLast', () => {
  it('puts the cause last, not the clean-up or the exit of the WAL streaming child', () => {
    const stderr = [
      'pg_basebackup: initiating base backup, waiting for checkpoint to complete',
      'pg_basebackup: error: could not write to file "x/pg_wal/000000010000000000000003": No space left on device',
      'pg_basebackup: error: child process exited with exit code 1',
      'pg_basebackup: removing contents of data directory "x"',
    ].join('\n');
    const ordered = errorsLast(stderr).split('\n');
    assert.match(ordered[ordered.length - 1]!, /No space left on device/);
    assert.equal(ordered.length, 4);
  });
});

// The one line a failed PostgreSQL command's error carries is the one that says why (the agent logs it
// every cycle the operation cannot progress).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PostgresCommandFailed } from '../../src/postgres/errors.js';

it("a failed start names PostgreSQL's FATAL line, not the shutdown line that ends its log", () => {
  const log = [
    'waiting for server to start....',
    '2026-12-03 09:20:01.123 UTC [4242] LOG:  starting PostgreSQL 15.18',
    '2026-12-03 09:20:01.130 UTC [4242] FATAL:  logical replication slot "test_logical" exists, but wal_level < logical',
    '2026-12-03 09:20:01.131 UTC [4242] HINT:  Change wal_level to be logical or higher.',
    '2026-12-03 09:20:01.132 UTC [4242] LOG:  database system is shut down',
  ].join('\n');
  const err = new PostgresCommandFailed({ command: 'pg_ctl start -D /data', exitCode: 1, stderr: log });
  assert.match(err.message, /exited with code 1: .*FATAL: {2}logical replication slot "test_logical" exists, but wal_level < logical$/);
  assert.equal(err.stderrTail, log, 'the whole tail stays available');
});

it('without a FATAL or PANIC line the last line is quoted, as before', () => {
  const err = new PostgresCommandFailed({ command: 'pg_basebackup', exitCode: 3, stderr: 'first\nno backups here' });
  assert.equal(err.message, 'command `pg_basebackup` exited with code 3: no backups here');
});

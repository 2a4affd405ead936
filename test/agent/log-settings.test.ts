// The `log:` section: Patroni's format/dateformat placeholders, type json with renames and static
// fields, log.dir with rotation by file_size/file_num, the mode, and the fence's lines kept in layout.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { AgentLogOutput } from '../../src/agent/log-settings.js';
import { parseConfig } from '../../src/config/index.js';
import { RotatingLogFile } from '../../src/log-file.js';
import { createFormatter, strftime } from '../../src/log-format.js';
import { createLineLogger } from '../../src/logger.js';

const T = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 67));
const record = { time: T, levelname: 'WARNING', levelno: 30, message: 'lock lost' };
const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function logSection(yaml: string) {
  return parseConfig(
    `scope: s\nname: n\nlog:\n${yaml}\nrestapi:\n  listen: 127.0.0.1:8008\n  connect_address: 127.0.0.1:8008\nraft:\n  self_addr: 127.0.0.1:5010\n  data_dir: /tmp/x/raft\n  allow_unauthenticated: true\npostgresql:\n  listen: 127.0.0.1:5432\n  connect_address: 127.0.0.1:5432\n  data_dir: /tmp/x\n  authentication:\n    superuser: {username: postgres}\n    replication: {username: r}\n`,
    'ha.yml',
  ).config.log;
}

describe('log layout', () => {
  it("writes Patroni's default line unless told otherwise", () => {
    assert.equal(createFormatter()(record), '2026-01-02 03:04:05,067 WARNING: lock lost');
    const lines: string[] = [];
    const logger = createLineLogger({ style: 'patroni', write: (l) => lines.push(l), now: () => T });
    logger.setOutput({ format: createFormatter() });
    logger.warn('lock lost');
    logger.error('x');
    assert.deepEqual(lines, ['2026-01-02 03:04:05,067 WARNING: lock lost', '2026-01-02 03:04:05,067 ERROR: x']);
  });

  it('follows format and dateformat with Python placeholders', () => {
    const f = createFormatter({ format: '[%(levelname)-8s] %(asctime)s %(name)s %(message)s', dateformat: '%d/%m/%y %H:%M:%S' });
    assert.equal(f(record), '[WARNING ] 02/01/26 03:04:05 hactl lock lost');
    assert.equal(strftime('%Y-%m-%dT%H:%M:%S.%f%z %j %%', T), '2026-01-02T03:04:05.067000+0000 002 %');
  });

  it('writes JSON objects with the fields format names, renamed, plus static_fields', () => {
    const f = createFormatter({ type: 'json', format: ['message', { asctime: '@timestamp' }, { levelname: 'level' }], staticFields: { app: 'hactl', env: 'prod' } });
    assert.deepEqual(JSON.parse(f(record)), { message: 'lock lost', '@timestamp': '2026-01-02 03:04:05,067', level: 'WARNING', app: 'hactl', env: 'prod' });
    assert.deepEqual(JSON.parse(createFormatter({ type: 'json' })(record)), { asctime: '2026-01-02 03:04:05,067', levelname: 'WARNING', message: 'lock lost' });
  });

  it('reads log.mode 0640 as octal, as PyYAML does for Patroni', () => {
    assert.equal(logSection('  mode: 0640').mode, 0o640);
    assert.equal(logSection('  mode: 0o600').mode, 0o600);
    assert.throws(() => logSection('  mode: 999'), /log\.mode: must be a file mode/);
  });
});

describe('log.dir', () => {
  it('rotates by file_size keeping file_num old files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hactl-log-'));
    dirs.push(dir);
    const file = new RotatingLogFile({ dir, fileSize: 100, fileNum: 2, mode: 0o640 });
    for (let i = 0; i < 20; i++) file.write(`line ${String(i).padStart(2, '0')} ${'x'.repeat(20)}`);
    file.close();
    const names = fs.readdirSync(dir).sort();
    assert.deepEqual(names, ['hactl.log', 'hactl.log.1', 'hactl.log.2']);
    for (const n of names) assert.ok(fs.statSync(path.join(dir, n)).size <= 100, `${n} is over file_size`);
    assert.match(fs.readFileSync(path.join(dir, 'hactl.log'), 'utf8'), /line 19/);
    assert.equal(fs.statSync(path.join(dir, 'hactl.log')).mode & 0o777, 0o640);
    const kept = names.map((n) => fs.readFileSync(path.join(dir, n), 'utf8')).join('');
    assert.doesNotMatch(kept, /line 00/, 'the oldest lines are dropped');
  });

  it('sends the agent log, fence lines included, to log.dir in the configured layout; back to stderr when removed', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hactl-log-'));
    dirs.push(dir);
    const stderr: string[] = [];
    const logger = createLineLogger({ style: 'patroni', write: (l) => stderr.push(l) });
    const out = new AgentLogOutput(logger, (l) => stderr.push(l));
    out.apply(logSection(`  type: json\n  dir: ${dir}\n  static_fields: {cluster: batman}`));
    logger.info('hello');
    out.forward('2026-01-02 03:04:05,067 ERROR: fence[42]: killed PostgreSQL');
    const lines = fs.readFileSync(path.join(dir, 'hactl.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.map((l) => [l.levelname, l.message, l.cluster]), [['INFO', 'hello', 'batman'], ['ERROR', 'fence[42]: killed PostgreSQL', 'batman']]);
    out.apply(logSection('  level: INFO'));
    logger.info('back');
    out.close();
    assert.match(stderr.at(-1)!, / INFO: back$/);
  });
});

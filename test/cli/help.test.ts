import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/run.js', import.meta.url));

test('hactl --help names the binary and lists the raft topic', () => {
  const out = execFileSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
  assert.match(out, /hactl/);
  assert.match(out, /raft/);
});

test('hactl help [COMMAND…] prints the same help as COMMAND… --help (oclif convention, without @oclif/plugin-help)', () => {
  const run = (...args: string[]) => execFileSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  assert.equal(run('help', 'raft', 'status'), run('raft', 'status', '--help'));
  assert.equal(run('help', 'raft:status'), run('raft', 'status', '--help'));
  assert.equal(run('help', 'switchover'), run('switchover', '--help'));
  assert.equal(run('help'), run('--help'));
  assert.match(run('help', 'list'), /USAGE\n {2}\$ hactl list/);
});

// Issue 14, the fence's files: a root fence writes only in a directory private to root/the agent
// (fence.dir, checked at start), never follows a link at its file names, and the agent ignores a record
// or pid file someone else could have written.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FenceClient } from '../../src/agent/fence/client.js';
import { appendNoFollow, replaceFileNoFollow } from '../../src/agent/fence/fence-files.js';
import { defaultFenceDir, prepareFenceDir, type FenceSettings } from '../../src/agent/fence/settings.js';
import { pgUser } from '../helpers/postgres.js';

const isRoot = process.getuid?.() === 0;
const root = mkdtempSync(path.join(os.tmpdir(), 'hactl-fence-sec-'));
after(() => rmSync(root, { recursive: true, force: true }));

function settingsIn(dir: string): FenceSettings {
  return { mode: 'on', safetyMarginMs: 1000, dir, recordFile: path.join(dir, 'fenced.json'), logFile: path.join(dir, 'fence.log'), pidFile: path.join(dir, 'fence.pid'), trippedWatchMs: 0 };
}

const silent = { info: () => {}, warn: (m: string) => warnings.push(m), error: () => {} };
const warnings: string[] = [];

describe('fence files', () => {
  it('default fence.dir: one per data directory, outside it, under /run/hactl for root', () => {
    const a = defaultFenceDir('/var/lib/postgresql/15/main');
    const b = defaultFenceDir('/srv/other/main');
    assert.notEqual(a, b, 'two data directories named alike get distinct fence directories');
    assert.match(a, /\/fence\/main-[0-9a-f]{8}$/);
    if (isRoot && !process.env.STATE_DIRECTORY) assert.ok(a.startsWith('/run/hactl/'), a);
  });

  it('refuses a fence.dir that the PostgreSQL user can change, naming the key', { skip: !isRoot && 'needs root' }, async () => {
    const user = await pgUser();
    const theirs = path.join(root, 'pg-owned');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, user.uid, user.gid);
    const why = await prepareFenceDir(settingsIn(path.join(theirs, 'fence')));
    assert.match(why ?? '', /^fence\.dir .*pg-owned\/fence is not private to root and the agent's user: .*pg-owned belongs to uid \d+/);
    assert.equal(await prepareFenceDir(settingsIn(path.join(root, 'private', 'fence'))), null);
    assert.equal(statSync(path.join(root, 'private', 'fence')).mode & 0o777, 0o700);
  });

  it('never writes through a link planted at the record, its temp name or the log', () => {
    const dir = path.join(root, 'links');
    mkdirSync(dir, { mode: 0o700 });
    const canary = path.join(root, 'canary');
    writeFileSync(canary, 'root only\n', { mode: 0o600 });
    const record = path.join(dir, 'fenced.json');
    symlinkSync(canary, `${record}.tmp-${process.pid}`);
    symlinkSync(canary, path.join(dir, 'fence.log'));
    replaceFileNoFollow(record, '{"ok":true}\n', 0o644);
    assert.throws(() => appendNoFollow(path.join(dir, 'fence.log'), 'line\n'), /ELOOP/);
    assert.equal(readFileSync(canary, 'utf8'), 'root only\n');
    assert.equal(readFileSync(record, 'utf8'), '{"ok":true}\n');
  });

  it('ignores a record that is a link or that another user could have written', { skip: !isRoot && 'needs root' }, async () => {
    const user = await pgUser();
    const dir = path.join(root, 'records');
    mkdirSync(dir, { mode: 0o700 });
    const s = settingsIn(dir);
    const client = new FenceClient({ settings: s, logger: silent });
    const record = JSON.stringify({ fencedAt: '2030-01-01T00:00:00.000Z', reason: 'forged', lateByMs: 1, postmasterPid: 1 });
    writeFileSync(s.recordFile, record, { mode: 0o644 });
    assert.equal(client.readRecord()?.reason, 'forged', "root's own record is read");
    chownSync(s.recordFile, user.uid, user.gid);
    assert.equal(client.readRecord(), null);
    assert.match(warnings.pop() ?? '', /ignoring the fence record: .*fenced\.json belongs to uid/);
    rmSync(s.recordFile);
    writeFileSync(s.recordFile, record);
    chmodSync(s.recordFile, 0o666);
    assert.equal(client.readRecord(), null, 'a world-writable record is ignored');
    rmSync(s.recordFile);
    symlinkSync(path.join(root, 'canary'), s.recordFile);
    assert.equal(client.readRecord(), null);
    assert.match(warnings.pop() ?? '', /is a symbolic link/);
  });
});

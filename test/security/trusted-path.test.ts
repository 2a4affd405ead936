// trusted-path.ts: a directory is private when nobody but root (and the agent's user) can change anything
// on the way to it — through links too. This is what fence.dir, root-owned config directories and the
// Raft data directory warning rely on.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { whyNotPrivate, whyNotPrivateOnceMade } from '../../src/postgres/trusted-path.js';
import { pgUser } from '../helpers/postgres.js';

const isRoot = process.getuid?.() === 0;
const root = mkdtempSync(path.join(os.tmpdir(), 'hactl-trust-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('whyNotPrivate', { skip: !isRoot && 'needs root (directories of another user)' }, () => {
  it('accepts root-only directories below sticky /tmp, refuses the sticky directory itself as the target', async () => {
    assert.equal(await whyNotPrivate(root, [0]), null);
    assert.match((await whyNotPrivate(os.tmpdir(), [0])) ?? '', /is writable by its group or others \(mode 1777\)/);
  });

  it("refuses a directory on the way that another user owns or can write, also when reached through a link", async () => {
    const user = await pgUser();
    const theirs = path.join(root, 'theirs');
    mkdirSync(path.join(theirs, 'inner'), { recursive: true });
    chownSync(theirs, user.uid, user.gid);
    assert.match((await whyNotPrivate(path.join(theirs, 'inner'), [0])) ?? '', /theirs belongs to uid \d+/);
    symlinkSync(path.join(theirs, 'inner'), path.join(root, 'link-to-theirs'));
    assert.match((await whyNotPrivate(path.join(root, 'link-to-theirs'), [0])) ?? '', /theirs belongs to uid/);
    const groupWritable = path.join(root, 'gw');
    mkdirSync(groupWritable);
    chmodSync(groupWritable, 0o775);
    assert.match((await whyNotPrivate(groupWritable, [0])) ?? '', /writable by its group or others \(mode 0775\)/);
  });

  it('follows a link a trusted user placed to a private directory', async () => {
    mkdirSync(path.join(root, 'real'));
    symlinkSync('real', path.join(root, 'alias'));
    assert.equal(await whyNotPrivate(path.join(root, 'alias'), [0]), null);
  });

  it('judges a directory not made yet by where it will be made', async () => {
    assert.equal(await whyNotPrivateOnceMade(path.join(root, 'new', 'raft'), [0]), null);
    assert.match((await whyNotPrivateOnceMade(path.join(root, 'theirs', 'raft'), [0])) ?? '', /theirs belongs to uid/);
  });
});

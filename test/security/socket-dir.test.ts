// Issue 14: a root agent never takes over a unix socket directory it did not create. It creates a
// missing one for the PostgreSQL user, uses one that user can already write (its own, or a shared
// 1777 / group-writable one) as it is, and refuses a root-owned one with what to change — where it
// used to chown it to the PostgreSQL user.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureSocketDir } from '../../src/postgres/os-user.js';
import { pgUser } from '../helpers/postgres.js';

const isRoot = process.getuid?.() === 0;
const root = mkdtempSync(path.join(os.tmpdir(), 'hactl-sock-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('ensureSocketDir as root', { skip: !isRoot && 'needs root (directories of another user)' }, () => {
  it('creates a missing directory for the PostgreSQL user', async () => {
    const user = await pgUser();
    const dir = path.join(root, 'new');
    await ensureSocketDir(dir, user);
    const st = statSync(dir);
    assert.deepEqual([st.uid, st.mode & 0o777], [user.uid, 0o755]);
  });

  it('refuses a root-owned directory the user cannot write, naming it and what to change, and leaves it alone', async () => {
    const user = await pgUser();
    const dir = path.join(root, 'roots');
    mkdirSync(dir, { mode: 0o755 });
    await assert.rejects(ensureSocketDir(dir, user), (err: Error) => {
      assert.equal(err.name, 'PostgresConfigError');
      assert.match(err.message, new RegExp(`^unix socket directory ${dir} belongs to root \\(uid 0\\) \\(mode 0755\\) and ${user.name} cannot write there; hactl does not take over a directory it did not create: chown it to ${user.name}, or set postgresql\\.parameters\\.unix_socket_directories`));
      return true;
    });
    const st = statSync(dir);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [0, 0, 0o755], 'owner and mode unchanged');
  });

  it('uses a shared sticky directory or a group-writable one of the user\'s group as it is', async () => {
    const user = await pgUser();
    const shared = path.join(root, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    await ensureSocketDir(shared, user);
    assert.deepEqual([statSync(shared).uid, statSync(shared).mode & 0o7777], [0, 0o1777]);
    const group = path.join(root, 'group');
    mkdirSync(group);
    chownSync(group, 0, user.gid);
    chmodSync(group, 0o2775);
    await ensureSocketDir(group, user);
    assert.deepEqual([statSync(group).uid, statSync(group).mode & 0o7777], [0, 0o2775]);
  });

  it('uses the user\'s own directory', async () => {
    const user = await pgUser();
    const own = path.join(root, 'own');
    mkdirSync(own, { mode: 0o700 });
    chownSync(own, user.uid, user.gid);
    await ensureSocketDir(own, user);
    assert.equal(statSync(own).uid, user.uid);
  });
});

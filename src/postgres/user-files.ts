// Files and directories hactl handles for the PostgreSQL OS user in places that user can write: the data
// directory, its parent, the pgpass and socket directories. When the agent runs as root, `postgres` — and so
// any database superuser, through COPY … PROGRAM — can put a symbolic link, FIFO or hard link at any name
// there, or swap a directory on the way for a link, between two of our system calls (issue 14). The rules:
// - a directory is opened once and everything in it goes through /proc/self/fd/N/<name> (Node has no
//   openat; the magic link is its equivalent), so swapping the directory afterwards changes nothing;
// - that directory belongs to the user — then nothing we do in it gives the user more than it already
//   has — or its whole path is private to root and the agent (trusted-path.ts);
// - files are opened O_NOFOLLOW (a link is refused, never followed) and O_NONBLOCK (a FIFO cannot hang
//   us); new files are created O_EXCL under a random name, given to the user with fchown/fchmod on the
//   descriptor, then renamed into place;
// - a file read as root must be a regular file of the user (or of root, in a private directory);
// - what only the user's own rights should do (create a directory in its directory, delete a tree there)
//   runs as the user; trees are deleted with GNU rm/find, which never follow a link swapped in half-way,
//   and root removes afterwards only what the user could not (root's own files in there).
// A non-root agent runs PostgreSQL as itself: the kernel's checks are all there is to it, the same code runs.
import { randomBytes } from 'node:crypto';
import { constants, promises as fs, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { PostgresError } from './errors.js';
import { run } from './exec.js';
import { agentUids, whyNotPrivate } from './trusted-path.js';
import type { PgOsUser } from './types.js';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = constants;

/** A path hactl will not use for the OS user, and why. */
export class UnsafePathError extends PostgresError {
  constructor(
    readonly path: string,
    why: string,
  ) {
    super(`refusing to use ${path}: ${why}`);
  }
}

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** An open directory we may act in for the user. */
interface UserDir {
  handle: FileHandle;
  stat: Stats;
  /** Not the user's own: private to root/the agent, whose files we may read too. */
  private: boolean;
  /** The path of `name` inside this very directory, whatever its path names by now. */
  at(name: string): string;
}

async function openUserDir(dir: string, user: PgOsUser): Promise<UserDir> {
  // Following links here is fine: what counts is where we land, checked on the descriptor below.
  const handle = await fs.open(dir, O_RDONLY | O_DIRECTORY | O_NONBLOCK);
  try {
    const stat = await handle.stat();
    let isPrivate = false;
    if (user.switchUser && stat.uid !== user.uid) {
      const why = await whyNotPrivate(dir, agentUids());
      if (why) throw new UnsafePathError(dir, `it is not ${user.name}'s and ${why}: another user could redirect what root writes there`);
      // The path can no longer change under us; make sure it still names the directory we hold.
      const now = await fs.stat(dir);
      if (now.ino !== stat.ino || now.dev !== stat.dev) throw new UnsafePathError(dir, 'it changed while it was checked');
      isPrivate = true;
    }
    return { handle, stat, private: isPrivate, at: (name) => `/proc/self/fd/${handle.fd}/${name}` };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

async function withUserDir<T>(dir: string, user: PgOsUser, fn: (d: UserDir) => Promise<T>): Promise<T> {
  const d = await openUserDir(dir, user);
  try {
    return await fn(d);
  } finally {
    await d.handle.close();
  }
}

/**
 * Writes a file atomically (temp file + rename in the same directory) owned by the user with `mode`: a crash
 * never leaves a half-written postgresql.conf or pgpass behind, and no planted link is ever followed.
 */
export async function writeFileForUser(file: string, content: string | Uint8Array, user: PgOsUser, mode = 0o600, options: { fsync?: boolean } = {}): Promise<void> {
  const base = path.basename(file);
  await withUserDir(path.dirname(file), user, async (dir) => {
    const tmp = `.${base}.hactl-${randomBytes(6).toString('hex')}`;
    const fh = await fs.open(dir.at(tmp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK, 0o600);
    try {
      if (user.switchUser) await fh.chown(user.uid, user.gid);
      await fh.chmod(mode);
      await fh.writeFile(content);
      // A file PostgreSQL checks at start (a replication slot's state, CRC-checked) must be on disk before the rename.
      if (options.fsync) await fh.sync();
    } catch (err) {
      await fh.close();
      await fs.unlink(dir.at(tmp)).catch(() => undefined); // best effort; the error above is what matters
      throw err;
    }
    await fh.close();
    try {
      await fs.rename(dir.at(tmp), dir.at(base));
    } catch (err) {
      await fs.unlink(dir.at(tmp)).catch(() => undefined); // best effort, as above
      throw err;
    }
  });
}

/**
 * Reads a file in a directory the user may write; null when it (or its directory) does not exist. Throws
 * UnsafePathError for a link, a FIFO or device, or a file that is not the user's (a hard link to a file of
 * root's, say) — root would otherwise read for the user what the user may not read.
 */
export async function readUserFile(file: string, user: PgOsUser): Promise<string | null> {
  let dir: UserDir;
  try {
    dir = await openUserDir(path.dirname(file), user);
  } catch (err) {
    if (errno(err) === 'ENOENT') return null;
    throw err;
  }
  try {
    let fh: FileHandle;
    try {
      fh = await fs.open(dir.at(path.basename(file)), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      if (errno(err) === 'ENOENT') return null;
      if (errno(err) === 'ELOOP') throw new UnsafePathError(file, 'it is a symbolic link');
      throw err;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new UnsafePathError(file, 'it is not a regular file');
      const owners = dir.private ? [user.uid, ...agentUids()] : [user.uid];
      if (user.switchUser && !owners.includes(st.uid)) throw new UnsafePathError(file, `it belongs to uid ${st.uid}, not to ${user.name}`);
      return await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } finally {
    await dir.handle.close();
  }
}

/** Removes a file (never what a link points to); a missing file or directory is fine. */
export async function removeUserFile(file: string, user: PgOsUser): Promise<void> {
  try {
    await withUserDir(path.dirname(file), user, (dir) => fs.unlink(dir.at(path.basename(file))));
  } catch (err) {
    if (errno(err) !== 'ENOENT') throw err;
  }
}

async function statOrNull(p: string): Promise<Stats | null> {
  try {
    return await fs.stat(p);
  } catch (err) {
    if (errno(err) === 'ENOENT') return null;
    throw err;
  }
}

/** Whether root should leave this to the user: we are root and the directory is the user's. */
function usersOwn(st: Stats | null, user: PgOsUser): boolean {
  return user.switchUser && st !== null && st.uid === user.uid;
}

/**
 * Hands a directory to the user with `mode`: its own already (mode set), private to root (chowned on the
 * descriptor), or an empty directory of someone else's in the user's own directory (the user replaces it
 * with its own, as it could itself). Anything else is an UnsafePathError.
 */
export async function chownForUser(dir: string, user: PgOsUser, mode?: number): Promise<void> {
  let d: UserDir;
  try {
    d = await openUserDir(dir, user);
  } catch (err) {
    const parent = await statOrNull(path.dirname(dir));
    if (!(err instanceof UnsafePathError) || !usersOwn(parent, user) || (await fs.readdir(dir)).length > 0) throw err;
    await run('rmdir', ['--', dir], { user });
    await run('mkdir', ['-m', (mode ?? 0o700).toString(8), '--', dir], { user });
    return;
  }
  try {
    if (user.switchUser && d.stat.uid !== user.uid) await d.handle.chown(user.uid, user.gid);
    if (mode !== undefined) await d.handle.chmod(mode);
  } finally {
    await d.handle.close();
  }
}

/**
 * mkdir -p, then the final directory is the user's with `mode`. Missing directories under one of the
 * user's are made by the user (root making them there could be steered by a link the user put on the way);
 * elsewhere by us, and the parents stay as they are.
 */
export async function ensureDirForUser(dir: string, user: PgOsUser, mode = 0o700): Promise<void> {
  const target = path.resolve(dir);
  if ((await statOrNull(target)) === null) {
    let existing = path.dirname(target);
    while ((await statOrNull(existing)) === null && existing !== path.dirname(existing)) existing = path.dirname(existing);
    if (usersOwn(await statOrNull(existing), user)) await run('mkdir', ['-p', '-m', mode.toString(8), '--', target], { user });
    else await fs.mkdir(target, { recursive: true, mode });
  }
  await chownForUser(target, user, mode);
}

/**
 * Empties a directory (a data directory on its own mount point, say). `find -delete` walks with openat
 * and never follows a link; it runs as the user where the directory is the user's, then as us for what
 * the user could not remove (root's own files in there).
 */
export async function emptyDirForUser(dir: string, user: PgOsUser): Promise<void> {
  // -H: the user may follow a configured data_dir that is a link (it only ever acts with its own rights);
  // root never follows one, which in the user's parent directory the user could have swapped in.
  if (usersOwn(await statOrNull(dir), user)) await run('find', ['-H', dir, '-mindepth', '1', '-delete'], { user, allowNonZeroExit: true });
  await run('find', ['-P', dir, '-mindepth', '1', '-delete']);
}

/**
 * rm -rf of a tree the user may write (a data directory, a clone's staging directory, a demo). GNU rm
 * descends with openat and checks each directory's device and inode, so a directory swapped for a link
 * half-way is never followed; it runs as the user where the tree or its parent is the user's, then as
 * us for what is left (root's own files in there, e.g. the agent's Raft directory).
 */
export async function removeTreeForUser(p: string, user: PgOsUser): Promise<void> {
  let st: Stats;
  try {
    st = await fs.lstat(p);
  } catch (err) {
    if (errno(err) === 'ENOENT') return;
    throw err;
  }
  if (usersOwn(st, user) || usersOwn(await statOrNull(path.dirname(path.resolve(p))), user)) {
    await run('rm', ['-rf', '--', p], { user, allowNonZeroExit: true });
  }
  await run('rm', ['-rf', '--', p]);
}

// The OS user PostgreSQL runs as, and the files/directories it must own. PostgreSQL refuses to run as root
// (initdb, pg_ctl, postgres, pg_rewind all exit), so a root hactl runs every binary as an unprivileged user
// and hands it ownership of the data, socket and pgpass paths. A non-root hactl runs binaries as itself.
import { execFile } from 'node:child_process';
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { DataDirError, OsUserMissing, PostgresConfigError } from './errors.js';
import type { PgOsUser } from './types.js';
import { chownForUser, ensureDirForUser } from './user-files.js';

// Kept importable from here: callers think of them as "the OS user's files"; user-files.ts says how they stay safe.
export { chownForUser, ensureDirForUser, writeFileForUser } from './user-files.js';

const execFileAsync = promisify(execFile);

export const DEFAULT_OS_USER = 'postgres';

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function parsePasswdLine(line: string): PasswdEntry | null {
  const fields = line.split(':');
  if (fields.length < 7) return null;
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return null;
  return { name: fields[0]!, uid, gid, home: fields[5]! };
}

/** Looks a user up in /etc/passwd, then through NSS (`getent passwd`) for LDAP/sssd users. */
export async function lookupOsUser(name: string, passwdFile = '/etc/passwd'): Promise<PasswdEntry | null> {
  try {
    const text = await fs.readFile(passwdFile, 'utf8');
    for (const line of text.split('\n')) {
      const entry = parsePasswdLine(line);
      if (entry && entry.name === name) return entry;
    }
  } catch {
    // fall through to getent
  }
  try {
    const { stdout } = await execFileAsync('getent', ['passwd', name]);
    return parsePasswdLine(stdout.trim());
  } catch {
    // getent exits 2 for an unknown user: the caller reports the missing user.
    return null;
  }
}

/** Looks a uid up (for messages naming a directory's owner). */
async function nameOfUid(uid: number): Promise<string> {
  try {
    const text = await fs.readFile('/etc/passwd', 'utf8');
    for (const line of text.split('\n')) {
      const entry = parsePasswdLine(line);
      if (entry && entry.uid === uid) return `${entry.name} (uid ${uid})`;
    }
  } catch {
    // ignore
  }
  return `uid ${uid}`;
}

/**
 * Resolves who PostgreSQL binaries run as: `osUserName` (default postgres) when we are root, else ourselves.
 * Throws OsUserMissing when root and the user does not exist; refuses a configured user that is root itself.
 */
export async function resolveOsUser(osUserName = DEFAULT_OS_USER): Promise<PgOsUser> {
  const myUid = process.getuid?.() ?? 0;
  if (myUid !== 0) {
    const gid = process.getgid?.() ?? 0;
    const self = (await lookupOsUser(process.env.USER ?? '')) ?? null;
    const home = self && self.uid === myUid ? self.home : (process.env.HOME ?? '/');
    const name = self && self.uid === myUid ? self.name : (process.env.USER ?? `uid${myUid}`);
    return { name, uid: myUid, gid, home, switchUser: false };
  }
  const entry = await lookupOsUser(osUserName);
  if (!entry) throw new OsUserMissing(osUserName);
  if (entry.uid === 0) throw new OsUserMissing(`${osUserName} (it is root; PostgreSQL needs an unprivileged user)`);
  return { ...entry, switchUser: true };
}

async function statOrNull(p: string) {
  try {
    return await fs.stat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * The unix socket directory must be writable by the user. A missing one is created (0755, the user's).
 * An existing one is never taken over (issue 14): a directory we did not create may be shared (/tmp,
 * /run) or belong to another service, and chowning it to the PostgreSQL user would hand that user a
 * directory root relies on. It is used as it is when the user can already write there (its own, or
 * group/other writable like Debian's 2775 /var/run/postgresql or a 1777 /tmp); otherwise the start
 * is refused with what to change.
 */
export async function ensureSocketDir(dir: string, user: PgOsUser): Promise<void> {
  const st = await statOrNull(dir);
  if (!st) return ensureDirForUser(dir, user, 0o755);
  if (!st.isDirectory()) throw new PostgresConfigError(`unix socket directory ${dir} is not a directory`);
  if (!user.switchUser || writableBy(st, user)) return;
  throw new PostgresConfigError(
    `unix socket directory ${dir} belongs to ${await nameOfUid(st.uid)} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}) and ${user.name} cannot write there; ` +
      `hactl does not take over a directory it did not create: chown it to ${user.name}, or set postgresql.parameters.unix_socket_directories to a directory ${user.name} owns (or one hactl may create)`,
  );
}

/** Write and search permission for `user` from the mode bits (its primary group only: supplementary groups are not looked up). */
function writableBy(st: Stats, user: PgOsUser): boolean {
  if (st.uid === user.uid) return (st.mode & 0o300) === 0o300;
  if (st.gid === user.gid) return (st.mode & 0o030) === 0o030;
  return (st.mode & 0o003) === 0o003;
}

/** True when the directory does not exist or is empty. */
export async function isEmptyDir(dir: string): Promise<boolean> {
  try {
    return (await fs.readdir(dir)).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
}

/**
 * Makes the data directory usable by the user, or refuses:
 * - missing → created (parents too) with mode 0700, owned by the user;
 * - empty and ours to take (we are root, or already own it) → chowned and chmod 0700;
 * - not empty and owned by someone else → DataDirError (we never touch another data directory);
 * - not empty, ours, but group/other access beyond 0750 → DataDirError (PostgreSQL would refuse too).
 * Parents must be traversable by the user; that is checked so the error is ours and not initdb's.
 */
export async function prepareDataDir(dataDir: string, user: PgOsUser): Promise<void> {
  // First, so that the error names the real obstacle rather than what creating the directory ran into.
  await checkTraversable(dataDir, user);
  const st = await statOrNull(dataDir);
  if (!st) {
    await ensureDirForUser(dataDir, user, 0o700);
  } else {
    if (!st.isDirectory()) throw new DataDirError(dataDir, 'exists but is not a directory');
    const empty = await isEmptyDir(dataDir);
    if (st.uid !== user.uid) {
      if (!(empty && user.switchUser)) {
        throw new DataDirError(
          dataDir,
          `owned by ${await nameOfUid(st.uid)}, not by ${user.name} (uid ${user.uid}); refusing to use another user's data directory`,
        );
      }
      await chownForUser(dataDir, user, 0o700);
    } else if (empty) {
      await chownForUser(dataDir, user, 0o700);
    } else if ((st.mode & 0o027) !== 0) {
      throw new DataDirError(
        dataDir,
        `has permissions ${(st.mode & 0o777).toString(8).padStart(4, '0')}; PostgreSQL requires 0700 (or 0750)`,
      );
    }
  }
}

/** Each parent of `p` must let the user search it (x bit), or initdb/postgres fail with EACCES later. */
async function checkTraversable(p: string, user: PgOsUser): Promise<void> {
  if (!user.switchUser) return;
  let dir = path.dirname(path.resolve(p));
  while (true) {
    const st = await statOrNull(dir);
    const ok =
      st === null ||
      (st.uid === user.uid ? (st.mode & 0o100) !== 0 : st.gid === user.gid ? (st.mode & 0o010) !== 0 : (st.mode & 0o001) !== 0);
    if (!ok) {
      throw new DataDirError(p, `parent directory ${dir} is not traversable by ${user.name}; give it o+x or move the data directory`);
    }
    const parent = path.dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

/**
 * Before starting a server: the data directory must exist, be a PostgreSQL data directory (PG_VERSION), be
 * owned by the user and not be accessible beyond 0750. Each failure is a DataDirError in our words rather
 * than a line in the server log.
 */
export async function checkDataDir(dataDir: string, user: PgOsUser): Promise<void> {
  const st = await statOrNull(dataDir);
  if (!st) throw new DataDirError(dataDir, 'does not exist');
  if (!st.isDirectory()) throw new DataDirError(dataDir, 'exists but is not a directory');
  if (st.uid !== user.uid) {
    throw new DataDirError(dataDir, `owned by ${await nameOfUid(st.uid)}, not by ${user.name} (uid ${user.uid}); refusing to use another user's data directory`);
  }
  if ((st.mode & 0o027) !== 0) {
    throw new DataDirError(dataDir, `has permissions ${(st.mode & 0o777).toString(8).padStart(4, '0')}; PostgreSQL requires 0700 (or 0750)`);
  }
  if (!(await statOrNull(path.join(dataDir, 'PG_VERSION')))) throw new DataDirError(dataDir, 'is not a PostgreSQL data directory (no PG_VERSION)');
}

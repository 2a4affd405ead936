// Whether a directory is private to root and the agent's own user: nobody else can add, rename or remove
// anything on the way to it, so a name under it means tomorrow what it means today. The fence's files and
// any root-owned directory hactl writes into for the PostgreSQL user must pass this check (issue 14).
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';

/** Linux's own limit on symbolic links followed while resolving one path. */
const MAX_LINKS = 40;

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** Why `st` (a directory on the path) lets a user outside `trusted` change what is under it; null if it does not. */
function whyUntrustedDir(p: string, st: Stats, trusted: ReadonlySet<number>, isTarget: boolean): string | null {
  if (!trusted.has(st.uid)) return `${p} belongs to uid ${st.uid}`;
  if ((st.mode & 0o022) === 0) return null;
  // A sticky directory such as /tmp: others may add names but never rename or remove ours, so it may be on
  // the way (the next component must still be ours); the target itself must not let others add names.
  if ((st.mode & 0o1000) !== 0 && !isTarget) return null;
  return `${p} is writable by its group or others (mode ${octal(st.mode)})`;
}

/**
 * Why the directory `target` is not private to `trustedUids`, or null when it is: every directory from `/`
 * down to it — following symbolic links, each of which sits in a directory already checked and so was put
 * there by a trusted user — belongs to a trusted uid and lets no one else change its entries.
 */
export async function whyNotPrivate(target: string, trustedUids: readonly number[]): Promise<string | null> {
  const trusted = new Set(trustedUids);
  let pending = path.resolve(target).split('/').filter((c) => c !== '');
  const rootWhy = whyUntrustedDir('/', await fs.lstat('/'), trusted, pending.length === 0);
  if (rootWhy) return rootWhy;
  let current = '/';
  let links = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      current = path.dirname(current);
      continue;
    }
    const next = path.join(current, name);
    let st: Stats;
    try {
      st = await fs.lstat(next);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return `${next} does not exist`;
      throw err;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) return `too many symbolic links on the way to ${target}`;
      const link = await fs.readlink(next);
      pending = [...link.split('/').filter((c) => c !== ''), ...pending];
      if (link.startsWith('/')) current = '/';
      continue;
    }
    if (!st.isDirectory()) return `${next} is not a directory`;
    const why = whyUntrustedDir(next, st, trusted, pending.length === 0);
    if (why) return why;
    current = next;
  }
  return null;
}

/** The uids a root (or any) agent trusts with its own files: root and itself. */
export function agentUids(): number[] {
  const me = process.getuid?.() ?? 0;
  return me === 0 ? [0] : [0, me];
}

/** whyNotPrivate of `target`, or of its nearest existing ancestor while it does not exist yet (it will be made there). */
export async function whyNotPrivateOnceMade(target: string, trustedUids: readonly number[]): Promise<string | null> {
  let p = path.resolve(target);
  while (p !== '/') {
    const exists = await fs.lstat(p).then(
      () => true,
      () => false,
    );
    if (exists) return whyNotPrivate(p, trustedUids);
    p = path.dirname(p);
  }
  return whyNotPrivate('/', trustedUids);
}

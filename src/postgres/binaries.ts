// Finding the PostgreSQL binaries and their major version. `postgresql.bin_dir` wins and must be complete;
// otherwise the first directory holding both pg_ctl and postgres among PATH, Debian's
// /usr/lib/postgresql/<newest>/bin and RHEL's /usr/pgsql-<newest>/bin.
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { BinariesNotFound, PostgresError } from './errors.js';
import { run } from './exec.js';
import type { PgBinaries, PgBinaryName, PgOsUser } from './types.js';

const REQUIRED: PgBinaryName[] = ['pg_ctl', 'postgres'];

async function isExecutable(file: string): Promise<boolean> {
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) return false;
    await fs.access(file, constants.X_OK);
    return true;
  } catch {
    // Missing or not executable: not a usable binary here, the next directory is tried.
    return false;
  }
}

async function missingIn(dir: string): Promise<PgBinaryName[]> {
  const missing: PgBinaryName[] = [];
  for (const name of REQUIRED) if (!(await isExecutable(path.join(dir, name)))) missing.push(name);
  return missing;
}

/** Versioned install dirs under `root` matching `pattern` (capture = major), newest first. */
async function versionedDirs(root: string, pattern: RegExp, suffix: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(root);
  } catch {
    // No such install root on this machine: nothing to find there.
    return [];
  }
  return names
    .map((name) => ({ name, match: pattern.exec(name) }))
    .filter((x): x is { name: string; match: RegExpExecArray } => x.match !== null)
    .sort((a, b) => Number(b.match[1]) - Number(a.match[1]))
    .map((x) => path.join(root, x.name, suffix));
}

/** The directories searched when bin_dir is not set, in order. */
export async function candidateBinDirs(envPath = process.env.PATH ?? '', fsRoot = '/'): Promise<string[]> {
  const fromPath = envPath.split(':').filter((d) => d !== '');
  const debian = await versionedDirs(path.join(fsRoot, 'usr/lib/postgresql'), /^(\d+(?:\.\d+)?)$/, 'bin');
  const rhel = await versionedDirs(path.join(fsRoot, 'usr'), /^pgsql-(\d+(?:\.\d+)?)$/, 'bin');
  return [...new Set([...fromPath, ...debian, ...rhel])];
}

/** Parses `postgres (PostgreSQL) 15.18 (Debian 15.18-1.pgdg120+1)` → {version '15.18', major 15}. */
export function parsePostgresVersion(text: string): { version: string; majorVersion: number } {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(text);
  if (!match) throw new PostgresError(`cannot parse PostgreSQL version from ${JSON.stringify(text.trim())}`);
  const major = Number(match[1]);
  // Before 10 the major version had two parts (9.6); we do not support those, but report them sensibly.
  return { version: match[2] !== undefined ? `${match[1]}.${match[2]}` : match[1]!, majorVersion: major };
}

/**
 * A PATH entry may hold symlinks to a few binaries only (e.g. /usr/local/bin/pg_ctl → /usr/lib/postgresql/15/
 * bin/pg_ctl, without pg_controldata or pg_rewind): use the directory the postgres binary really lives in when
 * it holds pg_ctl too.
 */
async function realBinDir(dir: string): Promise<string> {
  try {
    const real = path.dirname(await fs.realpath(path.join(dir, 'postgres')));
    if (real !== dir && (await missingIn(real)).length === 0) return real;
  } catch {
    // keep dir
  }
  return path.resolve(dir);
}

const cache = new Map<string, Promise<PgBinaries>>();

async function describe(binDir: string, user: PgOsUser | undefined): Promise<PgBinaries> {
  const { stdout } = await run(path.join(binDir, 'postgres'), ['--version'], { user, timeoutMs: 15_000 });
  const { version, majorVersion } = parsePostgresVersion(stdout);
  return { binDir, version, majorVersion, path: (name) => path.join(binDir, name) };
}

export interface FindBinariesOptions {
  bin_dir?: string;
  /** The OS user that runs `postgres --version` (postgres refuses root for most things; be consistent). */
  user?: PgOsUser;
  envPath?: string;
  /** Test hook: root of the filesystem for the well-known locations. */
  fsRoot?: string;
}

/** Finds the binaries (cached per directory) or throws BinariesNotFound listing every place searched. */
export async function findBinaries(options: FindBinariesOptions = {}): Promise<PgBinaries> {
  let binDir: string;
  if (options.bin_dir) {
    const missing = await missingIn(options.bin_dir);
    if (missing.length > 0) throw new BinariesNotFound([options.bin_dir], missing, true);
    binDir = path.resolve(options.bin_dir);
  } else {
    const searched = await candidateBinDirs(options.envPath, options.fsRoot);
    let found: string | null = null;
    for (const dir of searched) {
      if ((await missingIn(dir)).length === 0) {
        found = dir;
        break;
      }
    }
    if (!found) throw new BinariesNotFound(searched);
    binDir = await realBinDir(found);
  }
  let entry = cache.get(binDir);
  if (!entry) {
    entry = describe(binDir, options.user);
    cache.set(binDir, entry);
    entry.catch(() => cache.delete(binDir));
  }
  return entry;
}

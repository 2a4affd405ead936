// Issue 14, symlink attacks: the PostgreSQL OS user (any database superuser, through COPY … PROGRAM)
// plants links at every name a root agent writes or reads in its directories — the managed config files,
// standby.signal, pgpass, the server log, the temp names hactl used to use — and a FIFO at postmaster.pid.
// Then hactl reconfigures, restarts and reads the server's state. No file outside the data directory may
// change owner, mode or content; what hactl cannot do safely it refuses, naming the path.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs, lstatSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../src/postgres/exec.js';
import { getStatus, start, stop } from '../../src/postgres/lifecycle.js';
import { writeConfiguration } from '../../src/postgres/write-config.js';
import { cleanupPostgres, startPrimary, type TestServer } from '../helpers/postgres.js';

const isRoot = process.getuid?.() === 0;

interface Snapshot {
  uid: number;
  gid: number;
  mode: number;
  ino: number;
  content: string;
}

/** Root's files a planted link points at (in a directory only root can enter, like /etc/shadow's). */
class Canaries {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'hactl-canary-'));
  private readonly before = new Map<string, Snapshot>();

  async make(name: string): Promise<string> {
    const file = path.join(this.dir, name);
    await fs.writeFile(file, `root's ${name}\n`, { mode: 0o640 });
    return file;
  }

  snapshot(): void {
    for (const p of [this.dir, ...this.files()]) this.before.set(p, this.stat(p));
  }

  private files(): string[] {
    return [...new Set([...this.before.keys(), ...readdir(this.dir).map((n) => path.join(this.dir, n))])].filter((p) => p !== this.dir);
  }

  private stat(p: string): Snapshot {
    const st = statSync(p);
    return { uid: st.uid, gid: st.gid, mode: st.mode, ino: st.ino, content: st.isFile() ? readFileSync(p, 'utf8') : readdir(p).sort().join(',') };
  }

  /** Every canary (and their directory) exactly as snapshotted; no file added there. */
  assertUntouched(what: string): void {
    for (const [p, snap] of this.before) assert.deepEqual(this.stat(p), snap, `${what}: ${p} changed`);
    assert.deepEqual(readdir(this.dir).sort(), [...this.before.keys()].filter((p) => p !== this.dir).map((p) => path.basename(p)).sort(), `${what}: files appeared in ${this.dir}`);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const readdir = (dir: string): string[] => readdirSync(dir);

/** `ln -sfn target link` as the PostgreSQL user: what a superuser's COPY … PROGRAM can do. */
async function plantLink(server: TestServer, target: string, link: string): Promise<void> {
  await run('ln', ['-sfn', target, link], { user: server.ctx.user });
}

describe('links planted by the PostgreSQL user', { skip: !isRoot && 'needs root (the agent as root is the case attacked)' }, () => {
  const canaries = new Canaries();
  let server: TestServer;

  before(async () => {
    server = await startPrimary();
  });
  after(async () => {
    await cleanupPostgres();
    canaries.remove();
  });

  it('reconfiguring as a replica writes every file it must without following a link at its name or at a temp name', async () => {
    const dataDir = server.options.data_dir;
    const writeOnly = ['pg_hba.conf', 'standby.signal'].map((n) => path.join(dataDir, n));
    const pgpass = server.options.pgpass!;
    const oldTempNames = ['postgresql.conf', 'pg_hba.conf', 'standby.signal', 'postgresql.base.conf'].map((n) => path.join(dataDir, `.${n}.hactl-tmp-${process.pid}`));
    const targets = [...writeOnly, pgpass, ...oldTempNames, `${pgpass}.tmp`, path.join(path.dirname(pgpass), `.pgpass.hactl-tmp-${process.pid}`)];
    for (const [i, link] of targets.entries()) await plantLink(server, await canaries.make(`target-${i}`), link);
    canaries.snapshot();

    await writeConfiguration(server.ctx, { role: 'replica', primary: { host: '127.0.0.1', port: 1 } }, { bootstrap: { pg_hba: ['local all all trust', 'host all all 127.0.0.1/32 trust'] } });

    canaries.assertUntouched('after writeConfiguration');
    for (const file of [...writeOnly, pgpass]) {
      const st = lstatSync(file);
      assert.ok(st.isFile(), `${file} is a regular file now, not the planted link`);
      assert.equal(st.uid, server.ctx.user.uid, `${file} belongs to ${server.ctx.user.name}`);
      assert.equal(st.mode & 0o777, 0o600);
    }
    assert.match(readFileSync(pgpass, 'utf8'), /replicator/);
  });

  it('refuses to read a config file or the server log through a link (root would read what the user may not), naming the file', async () => {
    const dataDir = server.options.data_dir;
    await plantLink(server, await canaries.make('shadow'), path.join(dataDir, 'postgresql.conf.planted'));
    for (const name of ['postgresql.conf', 'postgresql.auto.conf']) {
      const file = path.join(dataDir, name);
      const saved = readFileSync(file, 'utf8');
      await plantLink(server, path.join(canaries.dir, 'shadow'), file);
      canaries.snapshot();
      await assert.rejects(writeConfiguration(server.ctx, { role: 'primary' }), new RegExp(`refusing to use ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: it is a symbolic link`));
      canaries.assertUntouched(`after reconfiguring with a link at ${name}`);
      await run('sh', ['-c', 'rm -f -- "$1" && cat > "$1"', 'put-back', file], { user: server.ctx.user, input: saved });
    }
    await writeConfiguration(server.ctx, { role: 'primary' });
  });

  it('a restart with the log directory swapped for a link to root\'s directory fails without handing that directory over', async () => {
    const logDir = path.join(server.options.data_dir, 'log');
    await stop(server.ctx, { mode: 'fast' });
    await run('rm', ['-rf', '--', logDir], { user: server.ctx.user });
    await plantLink(server, canaries.dir, logDir);
    canaries.snapshot();
    await assert.rejects(start(server.ctx), /refusing to use|Permission denied|could not open log file/);
    canaries.assertUntouched('after a start with log -> root\'s directory');
    assert.equal(statSync(canaries.dir).uid, 0, "root's directory stays root's");
    await run('rm', ['-f', '--', logDir], { user: server.ctx.user });
    await start(server.ctx);
    assert.equal((await getStatus(server.ctx)).state, 'running');
  });

  it('a FIFO at postmaster.pid does not hang the agent: reading the state fails at once', async () => {
    await stop(server.ctx, { mode: 'fast' });
    const pidFile = path.join(server.options.data_dir, 'postmaster.pid');
    await run('mkfifo', ['-m', '0600', pidFile], { user: server.ctx.user });
    const began = Date.now();
    await assert.rejects(getStatus(server.ctx), /refusing to use .*postmaster\.pid: it is not a regular file/);
    assert.ok(Date.now() - began < 10_000, 'answered without waiting for a writer on the FIFO');
    await fs.rm(pidFile);
  });
});

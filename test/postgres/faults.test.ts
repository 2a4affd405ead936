import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  cleanupPostgres,
  copyTemplate,
  pgUser,
  registerServer,
  startPrimary,
  tempDirForPostgres,
  testContext,
  testOptions,
} from '../helpers/postgres.js';
import { findBinaries } from '../../src/postgres/binaries.js';
import { bootstrap } from '../../src/postgres/bootstrap.js';
import { BinariesNotFound, DataDirError, OsUserMissing, PortInUse, PostgresCommandFailed } from '../../src/postgres/errors.js';
import { run, runPg } from '../../src/postgres/exec.js';
import { getStatus, start } from '../../src/postgres/lifecycle.js';
import { lookupOsUser, prepareDataDir, resolveOsUser } from '../../src/postgres/os-user.js';
import { writeConfiguration } from '../../src/postgres/write-config.js';

after(cleanupPostgres);

describe('binaries', () => {
  it('names a configured bin_dir that does not exist', async () => {
    await assert.rejects(findBinaries({ bin_dir: '/nonexistent/pg/bin' }), (err: unknown) => {
      assert.ok(err instanceof BinariesNotFound);
      assert.equal(err.message, 'postgresql.bin_dir /nonexistent/pg/bin does not contain pg_ctl, postgres');
      return true;
    });
  });

  it('names a bin_dir that has only some of the binaries', async () => {
    const dir = await tempDirForPostgres();
    await fs.symlink('/usr/lib/postgresql/15/bin/pg_ctl', path.join(dir, 'pg_ctl'));
    await assert.rejects(findBinaries({ bin_dir: dir }), new RegExp(`bin_dir ${dir} does not contain postgres$`));
  });

  it('lists every place it looked when nothing is found', async () => {
    await assert.rejects(findBinaries({ envPath: '/opt/a:/opt/b', fsRoot: '/nonexistent-root' }), (err: unknown) => {
      assert.ok(err instanceof BinariesNotFound);
      assert.deepEqual(err.searched, ['/opt/a', '/opt/b']);
      assert.match(err.message, /not found; looked in: \/opt\/a, \/opt\/b; set postgresql.bin_dir/);
      return true;
    });
  });

  it('finds PostgreSQL 15 without configuration, through a PATH of symlinks to the real directory', async () => {
    const bin = await findBinaries();
    assert.equal(bin.majorVersion, 15);
    assert.equal(bin.binDir, '/usr/lib/postgresql/15/bin');
  });
});

describe('OS user', () => {
  it('refuses a missing OS user with a clear message', async () => {
    await assert.rejects(resolveOsUser('hactl-no-such-user'), (err: unknown) => {
      assert.ok(err instanceof OsUserMissing);
      assert.match(err.message, /OS user "hactl-no-such-user" does not exist; PostgreSQL cannot run as root/);
      return true;
    });
  });

  it('runs binaries as the postgres user with its HOME, without our PG*, HACTL_*, PATRONI_* or NODE_OPTIONS variables', async () => {
    const user = await pgUser();
    const entry = await lookupOsUser('postgres');
    assert.equal(user.uid, entry!.uid);
    const planted = { PGHOST: '/nonexistent', PGPASSWORD: 'leak', HACTL_RAFT_PASSWORD: 'leak', PATRONI_SUPERUSER_PASSWORD: 'leak', NODE_OPTIONS: '--require /leak.js' };
    Object.assign(process.env, planted);
    try {
      const { stdout } = await run('/bin/sh', ['-c', 'id -u; echo "$HOME"; env | grep -E "^(PG|HACTL_|PATRONI_|NODE_OPTIONS)" | sort || true'], { user, env: { PGPASSFILE: '/x/pgpass' } });
      // PG_OOM_ADJUST_*: backends become OOM-killable again while the postmaster keeps the agent's protection.
      assert.deepEqual(stdout.trim().split('\n'), [
        String(entry!.uid),
        entry!.home,
        'PGPASSFILE=/x/pgpass',
        'PG_OOM_ADJUST_FILE=/proc/self/oom_score_adj',
        'PG_OOM_ADJUST_VALUE=0',
      ]);
    } finally {
      for (const key of Object.keys(planted)) delete process.env[key];
    }
  });
});

describe('commands that fail', () => {
  it('carry the command, exit code and stderr tail', async () => {
    const ctx = await testContext(await testOptions(await tempDirForPostgres()));
    await assert.rejects(runPg(ctx, 'pg_ctl', ['status', '-D', '/nonexistent/data']), (err: unknown) => {
      assert.ok(err instanceof PostgresCommandFailed);
      assert.equal(err.exitCode, 4);
      assert.match(err.command, /pg_ctl status -D \/nonexistent\/data$/);
      assert.match(err.message, /exited with code 4: pg_ctl: directory "\/nonexistent\/data" does not exist/);
      return true;
    });
  });

  it('time out and say so', async () => {
    await assert.rejects(run('sleep', ['5'], { timeoutMs: 200 }), /`sleep 5` timed out after 200 ms/);
  });

  it('report a binary that cannot be spawned', async () => {
    await assert.rejects(run('/nonexistent/binary', []), /`\/nonexistent\/binary` exited with code .*ENOENT/);
  });
});

describe('data directory', () => {
  it('refuses a data directory owned by another user and leaves it alone', async () => {
    const base = await tempDirForPostgres();
    const dataDir = path.join(base, 'data');
    await fs.mkdir(dataDir, { mode: 0o700 });
    await fs.writeFile(path.join(dataDir, 'PG_VERSION'), '15\n');
    const nobody = (await lookupOsUser('nobody'))!;
    await fs.chown(dataDir, nobody.uid, nobody.gid);
    const user = await pgUser();
    await assert.rejects(prepareDataDir(dataDir, user), (err: unknown) => {
      assert.ok(err instanceof DataDirError);
      assert.equal(err.message, `data directory ${dataDir}: owned by nobody (uid ${nobody.uid}), not by postgres (uid ${user.uid}); refusing to use another user's data directory`);
      return true;
    });
    const ctx = await testContext(await testOptions(base));
    await assert.rejects(start(ctx), /owned by nobody/);
    await assert.rejects(bootstrap(ctx, {}), /owned by nobody/);
    assert.equal((await fs.stat(dataDir)).uid, nobody.uid);
    assert.deepEqual(await fs.readdir(dataDir), ['PG_VERSION']);
  });

  it('refuses to start a data directory with group/other permissions', async () => {
    const base = await tempDirForPostgres();
    const options = await testOptions(base);
    const ctx = await testContext(options);
    await copyTemplate(options.data_dir);
    await writeConfiguration(ctx, { role: 'primary' });
    await fs.chmod(options.data_dir, 0o755);
    registerServer(ctx);
    await assert.rejects(start(ctx), (err: unknown) => {
      assert.ok(err instanceof DataDirError);
      assert.match(err.message, /has permissions 0755; PostgreSQL requires 0700 \(or 0750\)$/);
      return true;
    });
    await assert.rejects(prepareDataDir(options.data_dir, ctx.user), /has permissions 0755/);
  });

  it('takes an empty root-owned directory (e.g. made by mkdtemp) and gives it to the postgres user', async () => {
    const base = await tempDirForPostgres();
    const dataDir = path.join(base, 'data');
    await fs.mkdir(dataDir, { mode: 0o755 });
    const user = await pgUser();
    await prepareDataDir(dataDir, user);
    const st = await fs.stat(dataDir);
    assert.equal(st.uid, user.uid);
    assert.equal(st.mode & 0o777, 0o700);
  });

  it('refuses a data dir whose parent the postgres user cannot traverse', async () => {
    const base = await tempDirForPostgres();
    const locked = path.join(base, 'locked');
    await fs.mkdir(locked, { mode: 0o700 }); // root-owned, 0700
    await assert.rejects(prepareDataDir(path.join(locked, 'data'), await pgUser()), /parent directory .*locked is not traversable by postgres/);
  });
});

describe('ports', () => {
  it('refuses to start on a port another process listens on, naming the port', async () => {
    const base = await tempDirForPostgres();
    const options = await testOptions(base);
    const ctx = await testContext(options);
    await copyTemplate(options.data_dir);
    await writeConfiguration(ctx, { role: 'primary' });
    registerServer(ctx);
    const port = Number(options.listen.split(':').pop());
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      await assert.rejects(start(ctx), (err: unknown) => {
        assert.ok(err instanceof PortInUse);
        assert.equal(err.port, port);
        assert.match(err.message, new RegExp(`^port ${port} on 127.0.0.1 is already in use`));
        return true;
      });
      assert.equal((await getStatus(ctx)).state, 'stopped');
    } finally {
      await new Promise((r) => squatter.close(r));
    }
  });

  it('refuses a second server on the port of a running one', async () => {
    const first = await startPrimary();
    const base = await tempDirForPostgres();
    const options = await testOptions(base, { listen: first.options.listen });
    const ctx = await testContext(options);
    await copyTemplate(options.data_dir);
    await writeConfiguration(ctx, { role: 'primary' });
    registerServer(ctx);
    await assert.rejects(start(ctx), PortInUse);
  });
});

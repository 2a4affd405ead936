// Issue 14 end to end: a root agent whose PostgreSQL user planted links at every name the agent and its
// fence write beside and in the data directory (the fence's former files, pgpass, config files and the
// temp names hactl used to use) reconfigures (SIGHUP), restarts PostgreSQL (POST /restart) and is fenced
// (SIGSTOP past its lease). No file the links point at changes owner, mode or content, and the secrets in
// the agent's environment are not readable with COPY … PROGRAM 'env'. The fixture's teardown also checks
// that the cluster's passwords showed in no log, ps sample or show-config output.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultFenceDir } from '../../src/agent/fence/settings.js';
import { run } from '../../src/postgres/exec.js';
import { postmasterPid, sql, TestCluster, type NodeSpec } from '../helpers/cluster.js';
import { pgUser } from '../helpers/postgres.js';
import { LIVENESS_MS, SUITE_MS, waitUntil } from '../helpers/wait.js';

const isRoot = process.getuid?.() === 0;
const ENV_SECRET = 'env-canary-3d9f7a';

interface Snapshot {
  uid: number;
  gid: number;
  mode: number;
  content: string;
}

describe('a root agent among links planted by the PostgreSQL user', { skip: !isRoot && 'needs root', timeout: SUITE_MS }, () => {
  const canaryDir = mkdtempSync(path.join(os.tmpdir(), 'hactl-canary-'));
  const canaries = new Map<string, Snapshot>();
  let cluster: TestCluster;
  let node: NodeSpec;

  const snap = (file: string): Snapshot => {
    const st = statSync(file);
    return { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, content: readFileSync(file, 'utf8') };
  };

  /** A root-owned file, and a link to it planted (as the PostgreSQL user) at `at`. */
  async function plant(at: string): Promise<void> {
    const target = path.join(canaryDir, `c${canaries.size}`);
    writeFileSync(target, `root's file planted at ${at}\n`, { mode: 0o640 });
    canaries.set(target, snap(target));
    await run('ln', ['-sfn', target, at], { user: await pgUser() });
  }

  function assertCanariesUntouched(when: string): void {
    for (const [file, before] of canaries) assert.deepEqual(snap(file), before, `${when}: ${file} changed`);
  }

  before(async () => {
    cluster = await TestCluster.create({ size: 1 });
    node = cluster.nodes[0]!;
    // Beside the data directory: the fence's former files, the pgpass, temp names.
    for (const name of ['data.fence.log', 'data.fence.pid', 'data.fenced.json', 'data.fenced.json.tmp-1', 'data.pgpass', 'pgpass', '.pgpass.hactl-tmp-1']) {
      await plant(path.join(node.base, name));
    }
    cluster.startAgent(node.name, { HACTL_SECURITY_CANARY_PASSWORD: ENV_SECRET, PATRONI_SECURITY_CANARY: ENV_SECRET });
    await cluster.waitForHealthy([node.name], 120_000);
    // PostgreSQL answers before the agent has finished bootstrapping (roles, the leader key): wait for
    // its steady cycle, or POST /restart below is refused with "bootstrap already in progress".
    await cluster.waitForLog(node.name, new RegExp(`INFO: no action\\. I am \\(${node.name}\\), the leader with the lock`), LIVENESS_MS);
  });

  after(async () => {
    await cluster?.destroy();
    rmSync(canaryDir, { recursive: true, force: true });
  });

  it('rewrites its files on SIGHUP without following links planted at their names', async () => {
    const agentPid = cluster.agents.get(node.name)!.pid;
    const hba = path.join(node.dataDir, 'pg_hba.conf');
    await plant(hba);
    for (const name of ['postgresql.conf', 'pg_hba.conf', 'standby.signal']) await plant(path.join(node.dataDir, `.${name}.hactl-tmp-${agentPid}`));
    cluster.agents.get(node.name)!.signal('SIGHUP');
    await waitUntil(() => (lstatSync(hba).isFile() ? true : null), { timeoutMs: LIVENESS_MS, what: `${hba} rewritten as a regular file after SIGHUP` });
    assert.equal(lstatSync(path.join(node.base, 'pgpass')).isFile(), true, 'the pgpass link was replaced, not followed');
    assertCanariesUntouched('after SIGHUP');
    // The fixture keeps raft.data_dir in <member>.agent, root's, outside the PostgreSQL user's tree: no
    // warning at start (the check itself is test/security/trusted-path.test.ts's whyNotPrivateOnceMade).
    assert.doesNotMatch(cluster.output(node.name), /raft\.data_dir \S+ is not private to root/);
  });

  it('restarts PostgreSQL (POST /restart) with the links still there', async () => {
    const before = postmasterPid(node);
    const res = await fetch(`http://${node.host}:${node.apiPort}/restart`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(60_000) });
    assert.equal(res.status, 200, await res.text());
    await waitUntil(async () => {
      const pid = postmasterPid(node);
      return pid !== null && pid !== before && (await sql(node, 'SELECT 1').then(() => true, () => false)) ? pid : null;
    }, { timeoutMs: 60_000, what: 'a new postmaster answering after POST /restart' });
    assertCanariesUntouched('after the restart');
  });

  it('is fenced when frozen past its lease; the fence writes only in its own directory', async () => {
    const agent = cluster.agents.get(node.name)!;
    const pm = postmasterPid(node)!;
    agent.signal('SIGSTOP');
    try {
      await waitUntil(() => (isDead(pm) ? true : null), { timeoutMs: LIVENESS_MS, what: `the fence to kill postmaster ${pm} of the frozen agent` });
    } finally {
      agent.signal('SIGCONT');
    }
    const fenceDir = defaultFenceDir(node.dataDir);
    assert.match(readFileSync(path.join(fenceDir, 'fence.log'), 'utf8'), /killed PostgreSQL/);
    assert.equal(JSON.parse(readFileSync(path.join(fenceDir, 'fenced.json'), 'utf8')).postmasterPid, pm);
    assertCanariesUntouched('after the fence fired');
    await cluster.waitForHealthy([node.name], 120_000);
    assertCanariesUntouched('after the agent recovered');
  });

  it("COPY … PROGRAM 'env' shows none of the agent's HACTL_/PATRONI_ variables", async () => {
    await sql(node, 'CREATE TABLE IF NOT EXISTS security_env (line text)');
    await sql(node, "COPY security_env FROM PROGRAM 'env'");
    const rows = await sql<{ line: string }>(node, 'SELECT line FROM security_env');
    const lines = rows.map((r) => r.line);
    assert.ok(lines.length > 3, lines.join(' | '));
    assert.ok(!lines.some((l) => l.includes(ENV_SECRET) || /^(HACTL_|PATRONI_)/.test(l)), lines.join(' | '));
    assert.ok(lines.includes('PG_OOM_ADJUST_VALUE=0'), lines.join(' | '));
  });
});

function isDead(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

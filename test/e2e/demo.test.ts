// `hactl demo` as a user runs it: start, wait for the "ready" line, connect with the printed
// read-write connection string, Ctrl-C (SIGINT), and check that it stopped every agent and
// PostgreSQL and removed its directory. Needs `npm run build` first.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { BIN, REPO_ROOT } from '../helpers/cluster.js';
import { ProcessRegistry } from '../helpers/process.js';
import { SUITE_MS, waitUntil } from '../helpers/wait.js';
import { psql } from './fault-fixture.js';

/** Pids whose command line mentions `text` (the demo's directory: agents and postmasters). */
function pidsMatching(text: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text)) out.push(Number(pid));
    } catch {
      // gone
    }
  }
  return out;
}

describe('hactl demo', { timeout: SUITE_MS }, () => {
  const procs = new ProcessRegistry();
  after(async () => {
    await procs.killAll();
    procs.dispose();
  });

  it('starts a 3-member cluster, prints working connection strings, and Ctrl-C stops it and removes its directory', async () => {
    const demo = procs.spawn('demo', process.execPath, [BIN, 'demo', '--interval', '1'], { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: '1' } });
    await waitUntil(() => demo.output().includes('Press Ctrl-C'), { timeoutMs: 90_000, what: `the demo to be ready\n${demo.output()}` }).catch((err: Error) =>
      assert.fail(`${err.message}\n${demo.output()}`),
    );
    const out = demo.output();
    assert.match(out, /Cluster ready in \d+\.\d s: node\d is the leader; node\d, node\d stream from it\./);
    assert.match(out, /\| Leader\s+\| running/);
    // The first table agrees with "ready": both replicas streaming, not "creating replica".
    const firstTable = out.slice(out.indexOf('Cluster ready'), out.indexOf('Connect:'));
    assert.equal(firstTable.match(/\| Replica \| streaming /g)?.length, 2, firstTable);
    const dir = /Starting 3 members in (\S+) /.exec(out)![1]!;
    const rw = /psql "([^"]*target_session_attrs=read-write)"/.exec(out)![1]!;
    const ro = /psql "([^"]*target_session_attrs=read-only)"/.exec(out)![1]!;
    assert.equal(psql(rw, 'SELECT pg_is_in_recovery()').stdout, 'f');
    assert.equal(psql(ro, 'SELECT pg_is_in_recovery()').stdout, 't');
    assert.ok(pidsMatching(dir).length >= 3, 'agents and postmasters running from the demo directory');

    demo.signal('SIGINT');
    assert.equal(await demo.exited, 0, demo.output());
    assert.match(demo.output(), /SIGINT: stopping the cluster/);
    assert.match(demo.output(), new RegExp(`Stopped 3 agents in [\\d.]+ s; removed ${dir}`));
    assert.equal(existsSync(dir), false, `${dir} still exists`);
    assert.deepEqual(pidsMatching(dir), [], 'processes left behind');
  });
});

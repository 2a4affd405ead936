// The leak check the cluster fixture runs in destroy() (issue 14) finds what it must: the fixture's own
// passwords, in any line of any source, masked in the report.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { memberConfigYaml, FAST_TIMING, type LocalMember } from '../../src/demo/config.js';
import { describeLeaks, findSecrets, passwordsInConfig, SecretLeakWatch } from './secret-leaks.js';

const member: LocalMember = { name: 'node1', base: '/tmp/x', agentDir: '/tmp/x.agent', configPath: '/tmp/x/ha.yml', dataDir: '/tmp/x/data', host: '127.0.0.1', apiPort: 1, pgPort: 2, raftPort: 3 };

describe('secret leak check', () => {
  it("knows the fixture's passwords from its config", () => {
    const yaml = memberConfigYaml(member, [member], { scope: 's', timing: FAST_TIMING, raft: true });
    assert.deepEqual(passwordsInConfig(yaml).sort(), ['rep-secret', 'rewind-secret', 'su-secret']);
    assert.deepEqual(passwordsInConfig("raft:\n  password: 'quoted-pw'\n"), ['quoted-pw']);
  });

  it('reports each line that holds a secret, with the secret masked', () => {
    const leaks = findSecrets('ps', '1 postgres -c x\n2 pg_basebackup -d password=su-secret host=a\n', ['su-secret']);
    assert.equal(leaks.length, 1);
    assert.equal(leaks[0]!.line, '2 pg_basebackup -d password=<SECRET> host=a');
    assert.doesNotMatch(describeLeaks(leaks), /su-secret/);
  });

  it("sees a secret in a running process's command line, as ps would show it", async () => {
    // This process's own command line names this file: taken as the "secret", the sample must find it.
    const secret = 'secret-leaks.test';
    assert.ok(process.argv.some((a) => a.includes(secret)), `this test expects its file in argv: ${process.argv.join(' ')}`);
    const watch = new SecretLeakWatch([secret], 60_000);
    await watch.samplePs();
    const { leaks, psSamples } = watch.finish();
    assert.equal(psSamples, 1);
    const own = leaks.find((l) => l.line.startsWith(`${process.pid} `));
    assert.ok(own, `no line for this process (${process.pid}) among ${leaks.length} leaks`);
    assert.equal(own.source, 'ps');
    assert.match(own.line, /<SECRET>/);
  });
});

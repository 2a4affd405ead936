import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, ConfigErrors, adjustTiming, parseConfig, parseEnvList, primaryStartTimeout, redactSecrets } from '../../src/config/index.js';

const exampleFile = fileURLToPath(new URL('../../examples/ha.yml', import.meta.url));
const example = readFileSync(exampleFile, 'utf8');

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigErrors) return err.problems.map((p) => p.message);
    if (err instanceof ConfigError) return [err.message];
    throw err;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration loading', () => {
  it('loads the Patroni-style example with its raft section and fills defaults', () => {
    const { config, warnings } = parseConfig(example, 'ha.yml');
    assert.equal(config.scope, 'demo-cluster-1');
    assert.deepEqual(config.raft?.partner_addrs, ['10.0.0.2:5010', '10.0.0.3:5010']);
    assert.equal(config.bootstrap.dcs.ttl, 30);
    assert.equal(primaryStartTimeout(config.bootstrap.dcs), 300);
    assert.equal(config.postgresql.os_user, 'postgres');
    assert.equal(config.watchdog.mode, 'automatic');
    assert.deepEqual(warnings, []);
  });

  it('names file:line:col for a YAML syntax error', () => {
    const [msg] = problems(() => parseConfig('scope: a\nname: [b\n', 'bad.yml'));
    assert.match(msg!, /^bad\.yml:\d+:\d+: /);
  });

  it('names the line of a value that fails validation', () => {
    const text = example.replace('self_addr: 10.0.0.1:5010', 'self_addr: not-an-address');
    const msgs = problems(() => parseConfig(text, 'ha.yml'));
    const line = example.split('\n').findIndex((l) => l.includes('self_addr')) + 1;
    assert.ok(msgs.some((m) => m.startsWith(`ha.yml:${line}:`) && m.includes('raft.self_addr')), msgs.join('\n'));
  });

  it('reports a missing required key at its parent mapping', () => {
    const text = example.replace(/^ {2}data_dir: \/var\/lib\/postgresql.*$/m, '');
    const msgs = problems(() => parseConfig(text, 'ha.yml'));
    assert.ok(msgs.some((m) => /ha\.yml:\d+:\d+: postgresql\.data_dir is required/.test(m)), msgs.join('\n'));
  });

  it('refuses a raft section without a password (Patroni accepts it) at the section\'s line, saying which key to add and the explicit opt-out', () => {
    const text = example.replace(/^ {2}password: change-me-raft\n/m, '');
    const msgs = problems(() => parseConfig(text, 'ha.yml'));
    const line = text.split('\n').findIndex((l) => l.startsWith('raft:')) + 2; // the section's first key
    const msg = msgs.find((m) => m.includes('raft.password'));
    assert.match(msg ?? '', new RegExp(`^ha\\.yml:${line}:\\d+: raft\\.password: is required: add \`password: <secret>\` under raft:`), msgs.join('\n'));
    assert.match(msg!, /raft\.allow_unauthenticated: true/);
  });

  it('refuses an empty file', () => {
    assert.match(problems(() => parseConfig('', 'e.yml'))[0]!, /e\.yml:1:1: configuration is empty/);
  });

  it('rejects self_addr among partner_addrs', () => {
    const text = example.replace('- 10.0.0.3:5010', '- 10.0.0.1:5010');
    const msgs = problems(() => parseConfig(text, 'ha.yml'));
    assert.ok(msgs.some((m) => m.includes('must not contain self_addr')));
  });

  it('applies HACTL_* (and PATRONI_*) environment overrides, HACTL_ first, and names the variable on error', () => {
    const { config } = parseConfig(example, 'ha.yml', {
      HACTL_NAME: 'srv9',
      PATRONI_NAME: 'ignored',
      PATRONI_RAFT_PARTNER_ADDRS: "'127.0.0.2:5010','127.0.0.3:5010'",
    });
    assert.equal(config.name, 'srv9');
    assert.deepEqual(config.raft?.partner_addrs, ['127.0.0.2:5010', '127.0.0.3:5010']);
    const msgs = problems(() => parseConfig(example, 'ha.yml', { HACTL_RAFT_SELF_ADDR: 'nope' }));
    assert.ok(msgs.some((m) => m.startsWith('HACTL_RAFT_SELF_ADDR: raft.self_addr')), msgs.join('\n'));
  });

  it('warns about the loop_wait + 2*retry_timeout <= ttl rule and adjusts like Patroni', () => {
    const { warnings } = parseConfig(example.replace('ttl: 30', 'ttl: 20'), 'ha.yml');
    assert.match(warnings[0]!, /loop_wait \+ 2\*retry_timeout <= ttl/);
    assert.deepEqual(adjustTiming({ ttl: 20, loop_wait: 10, retry_timeout: 10 }).timing, {
      ttl: 20,
      loop_wait: 1,
      retry_timeout: 9,
    });
    assert.equal(adjustTiming({ ttl: 6, loop_wait: 2, retry_timeout: 2 }).warning, null);
  });

  it('never shows secrets', () => {
    const { config } = parseConfig(example, 'ha.yml');
    const shown = JSON.stringify(redactSecrets(config));
    for (const secret of ['change-me-rest', 'change-me-raft', 'change-me-su', 'change-me-repl', 'change-me-rewind']) {
      assert.ok(!shown.includes(secret), `${secret} leaked`);
    }
    assert.ok(shown.includes('replicator'));
  });

  it('parses Patroni list syntax in environment values', () => {
    assert.deepEqual(parseEnvList("'a:1','b:2'"), ['a:1', 'b:2']);
    assert.deepEqual(parseEnvList('[a:1, b:2]'), ['a:1', 'b:2']);
  });
});

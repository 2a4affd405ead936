// `hactl agent -c FILE` starts without oclif (bin/run.js); every other form of the command must
// still reach oclif, which owns help, --validate-config and the error for an unknown flag.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { daemonConfigPath } from '../../src/agent/entry.js';

describe('the agent daemon fast path', () => {
  it('takes the config path from -c, --config, --config= or HACTL_CONFIG', () => {
    assert.equal(daemonConfigPath(['agent', '-c', '/etc/hactl/ha.yml'], {}), '/etc/hactl/ha.yml');
    assert.equal(daemonConfigPath(['agent', '--config', 'ha.yml'], {}), 'ha.yml');
    assert.equal(daemonConfigPath(['agent', '--config=ha.yml'], {}), 'ha.yml');
    assert.equal(daemonConfigPath(['agent'], { HACTL_CONFIG: '/etc/hactl/ha.yml' }), '/etc/hactl/ha.yml');
    assert.equal(daemonConfigPath(['agent', '-c', 'flag.yml'], { HACTL_CONFIG: 'env.yml' }), 'flag.yml');
  });

  it('leaves help, validation, other commands and anything unusual to oclif', () => {
    for (const argv of [
      ['agent'],
      ['agent', '--help'],
      ['agent', '--validate-config', '-c', 'ha.yml'],
      ['agent', '-c', 'ha.yml', '--validate-config'],
      ['agent', '-c'],
      ['agent', '-c', '--help'],
      ['agent', '--config='],
      ['agent', '--bogus'],
      ['list', '-c', 'ha.yml'],
      [],
    ]) {
      assert.equal(daemonConfigPath(argv, {}), null, argv.join(' '));
    }
  });
});

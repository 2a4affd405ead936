// Where the operator commands find their file and credentials: -c, HACTL_CONFIG, then patronictl's
// PATRONICTL_CONFIG_FILE; the `ctl` section's credentials and TLS files before `restapi`'s.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { resolveClientSettings } from '../../src/client/settings.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hactl-ctl-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

describe('client settings', () => {
  const ca = file('ca.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const patronictl = file('patronictl.yaml', `scope: batman\nrestapi:\n  connect_address: 10.0.0.1:8008\n  authentication: {username: rest, password: r}\nctl:\n  authentication: {username: ctl-user, password: c}\n  cacert: ${ca}\n  insecure: false\n`);
  const other = file('other.yml', 'scope: other\nrestapi:\n  connect_address: 10.0.0.9:8008\n');

  it("reads patronictl's PATRONICTL_CONFIG_FILE, with the ctl section first", async () => {
    const s = await resolveClientSettings({}, { PATRONICTL_CONFIG_FILE: patronictl });
    assert.equal(s.configFile, patronictl);
    assert.equal(s.scope, 'batman');
    assert.deepEqual(s.agents, ['http://10.0.0.1:8008']);
    assert.deepEqual(s.auth, { username: 'ctl-user', password: 'c' });
    assert.match(s.tls.ca ?? '', /BEGIN CERTIFICATE/);
  });

  it('lets -c and HACTL_CONFIG win over PATRONICTL_CONFIG_FILE', async () => {
    assert.equal((await resolveClientSettings({}, { PATRONICTL_CONFIG_FILE: patronictl, HACTL_CONFIG: other })).scope, 'other');
    assert.equal((await resolveClientSettings({ config: other }, { PATRONICTL_CONFIG_FILE: patronictl })).scope, 'other');
  });

  it('names the variables to check when the file is missing', async () => {
    await assert.rejects(resolveClientSettings({}, { PATRONICTL_CONFIG_FILE: path.join(dir, 'nope.yml') }), /no such file \(check -c\/--config, HACTL_CONFIG or PATRONICTL_CONFIG_FILE\)/);
  });
});

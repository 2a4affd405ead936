// Issue 14, role passwords: hactl sends them as verifiers it hashed itself, in a session that logs no
// statement, so even a server with log_statement = 'all' never writes one to its log — and the roles
// still log in with the plaintext over SCRAM (ASCII, NFKC-normalised and fallback passwords alike).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createOrAlterRole } from '../../src/postgres/bootstrap.js';
import { withConnection } from '../../src/postgres/connection.js';
import { saslprep } from '../../src/postgres/password-verifier.js';
import { cleanupPostgres, startPrimary, type TestServer } from '../helpers/postgres.js';

const PASSWORDS = {
  sec_ascii: "pl@in'text:pw-7c1",
  sec_accents: 'pässwörd-é-9a2',
  sec_fullwidth: 'ｆｕｌｌｗｉｄｔｈ-3b4', // NFKC: "fullwidth-3b4"
  sec_bidi: 'סיסמה-5e6', // SASLprep's bidi rules: sent in plaintext, still not logged
};

async function login(server: TestServer, user: string, password: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port: server.port, user, password, database: 'postgres', connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  await client.connect();
  await client.end();
}

describe('role passwords', () => {
  let server: TestServer;
  before(async () => {
    server = await startPrimary({
      parameters: { log_statement: 'all', log_min_error_statement: 'info', password_encryption: 'scram-sha-256' },
      pg_hba: ['local all all trust', 'host all sec_ascii,sec_accents,sec_fullwidth,sec_bidi 127.0.0.1/32 scram-sha-256', 'host all all 127.0.0.1/32 trust'],
    });
  });
  after(cleanupPostgres);

  it('are stored as SCRAM verifiers, work for login and never reach a server that logs every statement', async () => {
    await withConnection(server.ctx, async (c) => {
      for (const [role, password] of Object.entries(PASSWORDS)) await createOrAlterRole(c, role, { password });
      // ALTER as well as CREATE: a restarted bootstrap alters roles that exist.
      await createOrAlterRole(c, 'sec_ascii', { password: PASSWORDS.sec_ascii });
    });
    for (const [role, password] of Object.entries(PASSWORDS)) {
      await login(server, role, password);
      await assert.rejects(login(server, role, `${password}x`), /password authentication failed/, role);
    }
    const stored = await withConnection(server.ctx, async (c) => (await c.query<{ rolname: string; rolpassword: string }>("SELECT rolname, rolpassword FROM pg_authid WHERE rolname LIKE 'sec\\_%'")).rows);
    assert.equal(stored.length, 4);
    for (const row of stored) assert.match(row.rolpassword, /^SCRAM-SHA-256\$4096:/, row.rolname);

    const log = readFileSync(path.join(server.options.data_dir, 'log', 'postmaster.log'), 'utf8');
    assert.match(log, /statement: SELECT/, 'the server does log statements');
    for (const [role, password] of Object.entries(PASSWORDS)) {
      assert.ok(!log.includes(password), `${role}'s password is in the server log`);
      const prepared = saslprep(password);
      if (prepared) assert.ok(!log.includes(prepared), `${role}'s prepared password is in the server log`);
    }
    assert.doesNotMatch(log, /ROLE/, 'no role statement logged at all');
  });
});

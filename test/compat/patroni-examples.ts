// Patroni's documented example configurations (postgres0.yml, postgres1.yml, postgres2.yml of
// patroni/patroni at de6b22c8, copied unchanged into patroni-examples/) as a hactl cluster. The files
// ship with an `etcd:` section and their Raft variant commented out; the fixture does what the
// comments tell a user to do for Raft — drop etcd, use the raft section — and changes only what a
// test on a shared machine must: ports, paths (data_dir, pgpass, raft.data_dir under a temp dir), the
// passwords (the files' "patroni", "password", … are words that show up in any `ps` line of this
// shared machine, where the cluster's leak check looks for them) and, because hactl refuses a Raft
// port without a password, raft.password. Like Patroni's behave harness (features/environment.py),
// it also gives every member an `on_role_change` callback that logs its arguments (callback2.py),
// which the recovery feature reads.
import { readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { planMembers } from '../../src/demo/config.js';
import { TestCluster, type NodeSpec } from '../helpers/cluster.js';
import { tempDirForPostgres } from '../helpers/postgres.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The superuser password (the files' "patroni", made distinctive). */
export const EXAMPLE_SUPERUSER_PASSWORD = 'compat-su-7f3a';
/** postgres2.yml's REST credentials (its username; its "password" made distinctive). */
export const EXAMPLE_REST_AUTH = { username: 'username', password: 'compat-rest-91c2' };
const OTHER_PASSWORDS = { replication: 'compat-rep-4d1e', rewind: 'compat-rewind-b82c' };
/** The one key added: hactl refuses a Raft port anyone can write to. */
const RAFT_PASSWORD = 'compat-raft-secret';

/** Where a member's on_role_change callback appends `<action> <role> <scope>` (Patroni's `<name>_cb.log`). */
export function callbackLog(me: NodeSpec): string {
  return path.join(me.base, `${me.name}_cb.log`);
}

/** The example file as shipped. */
export function exampleText(i: number): string {
  return readFileSync(path.join(HERE, 'patroni-examples', `postgres${i}.yml`), 'utf8');
}

/** One example file with the test's ports and paths (and the Raft section in place of etcd's). */
export function adaptExample(text: string, me: NodeSpec, all: readonly NodeSpec[]): string {
  const doc = parseDocument(text);
  doc.delete('etcd');
  doc.set(
    'raft',
    doc.createNode({
      data_dir: path.join(me.base, 'raft'),
      self_addr: `127.0.0.1:${me.raftPort}`,
      partner_addrs: all.filter((m) => m !== me).map((m) => `127.0.0.1:${m.raftPort}`),
      password: RAFT_PASSWORD,
    }),
  );
  doc.setIn(['restapi', 'listen'], `127.0.0.1:${me.apiPort}`);
  doc.setIn(['restapi', 'connect_address'], `127.0.0.1:${me.apiPort}`);
  doc.setIn(['postgresql', 'listen'], `127.0.0.1:${me.pgPort}`);
  doc.setIn(['postgresql', 'connect_address'], `127.0.0.1:${me.pgPort}`);
  doc.setIn(['postgresql', 'data_dir'], me.dataDir);
  doc.setIn(['postgresql', 'pgpass'], path.join(me.base, 'pgpass'));
  doc.setIn(['postgresql', 'authentication', 'superuser', 'password'], EXAMPLE_SUPERUSER_PASSWORD);
  doc.setIn(['postgresql', 'authentication', 'replication', 'password'], OTHER_PASSWORDS.replication);
  doc.setIn(['postgresql', 'authentication', 'rewind', 'password'], OTHER_PASSWORDS.rewind);
  if (doc.hasIn(['restapi', 'authentication', 'password'])) doc.setIn(['restapi', 'authentication', 'password'], EXAMPLE_REST_AUTH.password);
  // callback2.py in sh; outside the data directory, so that a clone does not copy another member's log.
  doc.setIn(['postgresql', 'callbacks'], doc.createNode({ on_role_change: `/bin/sh -c 'echo "$1 $2 $3" >> ${callbackLog(me)}' callback` }));
  return doc.toString();
}

/** The three example members (names postgresql0…2 as in the files), configs written, nothing started. */
export async function patroniExampleCluster(): Promise<TestCluster> {
  const planned = await planMembers({ size: 3, makeBase: () => tempDirForPostgres('hactl-compat-') });
  // The files' own relative data_dir (data/postgresqlN), under the member's temp dir.
  const nodes = planned.map((m, i) => ({ ...m, name: `postgresql${i}`, dataDir: path.join(m.base, 'data', `postgresql${i}`) }));
  for (const [i, node] of nodes.entries()) {
    await fs.writeFile(node.configPath, adaptExample(exampleText(i), node, nodes), { mode: 0o600 });
  }
  return new TestCluster('batman', nodes);
}

// Patroni's acceptance feature `quorum_commit` (features/quorum_commit.feature of patroni/patroni,
// Patroni 4), all six scenarios on one cluster: node1..node3 play postgres-0..postgres-2 (REST ports
// 8008..8010), on one etcd member as Patroni's harness runs it, since the feature starts its members
// one at a time.
// 1. enabling `synchronous_mode: quorum` on a lone leader, its restart, strict mode's placeholder;
// 2. strict mode keeps the old standby in the setting (ANY 1) after a failover with no replica left;
// 3. three members: ANY 1 of two standbys (quorum 1), then synchronous_node_count 2 (ANY 2, quorum 0);
// 4. from quorum to multisync (`synchronous_mode: true`) and back;
// 5. `hactl list` shows "Quorum Standby", GET /quorum answers 200 on the quorum standbys;
// 6. a nosync member leaves the voters and the setting.
// The checks are Patroni's steps (features/steps/quorum_commit.py): the sync key's sync_standby as a
// set, its other fields as text; synchronous_standby_names as its number and the set of what the
// parentheses hold (ANY/FIRST is not compared there either).
// Differences, checked as hactl does them:
// - hactl quotes every member name in synchronous_standby_names ("node2"); Patroni quotes only names
//   that need it (postgres-1 does, node2 would not). PostgreSQL reads both the same, so the names are
//   compared without their quotes.
// - Outside quorum mode hactl's sync key has no `quorum` field (as Patroni 3 writes it); Patroni 4
//   writes 0. "quorum=0" accepts both.
// - The fixture's ttl 6 / loop_wait 1 are kept (the feature patches ttl 20 only to run faster than its
//   default 30).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BOOTSTRAPPED_WITHIN_MS, sql, TestCluster } from '../helpers/cluster.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { editMemberConfig } from '../helpers/member-config.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';
import { apiFlags, hactl } from '../e2e/fault-fixture.js';
import { dcsKey as stepsDcsKey, patchConfig as stepsPatchConfig, post, roleIs as stepsRoleIs, shutDown, statusIs as stepsStatusIs } from './steps.js';

const STRICT_WARNING = 'No active replication connections from Patroni members and synchronous_mode_strict is requested';

/** Patroni's `_parse_synchronous_standby_names`, with the quotes around each name dropped (see above). */
function parseSsn(value: string): { num: string; names: string[] } {
  const unquote = (s: string) => s.replaceAll('"', '');
  const m = /.*(\d+) \(([^)]+)\)/.exec(value);
  if (!m) return { num: '1', names: [unquote(value)] };
  return { num: m[1]!, names: m[2]!.split(/\s+/).map(unquote).sort() };
}

describe("Patroni's quorum_commit feature", { timeout: 900_000 }, () => {
  let etcd: EtcdCluster | undefined;
  let cluster: TestCluster;

  const logs = () => cluster.nodes.map((n) => `--- ${n.name}'s agent\n${cluster.history(n.name).split('\n').slice(-20).join('\n')}`).join('\n');
  const withLogs = (err: Error): never => assert.fail(`${err.message}\n${logs()}`);
  const patchConfig = (via: string, patch: Record<string, unknown>) => stepsPatchConfig(cluster, via, patch).catch(withLogs);
  const statusIs = (name: string, p: string, code: number) => stepsStatusIs(cluster, name, p, code).catch(withLogs);
  const roleIs = (name: string, role: 'primary' | 'replica') => stepsRoleIs(cluster, name, role).catch(withLogs);

  /** "sync key in DCS has K=V": sync_standby as a set of names, the rest as text (a missing quorum as 0, see above). */
  async function syncKeyHas(field: 'leader' | 'sync_standby' | 'quorum', expected: string): Promise<void> {
    let seen: unknown = null;
    const matches = (key: Record<string, unknown> | null): boolean => {
      const value = key?.[field];
      if (field === 'sync_standby') return [...new Set(String(value ?? '').split(','))].sort().join(',') === [...new Set(expected.split(','))].sort().join(',');
      if (field === 'quorum') return String(value ?? 0) === expected;
      return String(value) === expected;
    };
    await waitUntil(
      async () => {
        seen = await stepsDcsKey(etcd!, cluster.scope, 'sync');
        return matches(seen as Record<string, unknown> | null);
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 200, what: `the sync key to have ${field}=${expected}` },
    ).catch((err: Error) => withLogs(new Error(`${err.message}; last seen ${JSON.stringify(seen)}`)));
  }

  /** "synchronous_standby_names on X is set to 'V'" ('' for Patroni's _empty_str_). */
  async function ssnIs(name: string, expected: string): Promise<void> {
    const want = parseSsn(expected);
    let seen = '';
    await waitUntil(
      async () => {
        seen = await sql<{ s: string }>(cluster.node(name), "SELECT current_setting('synchronous_standby_names') AS s").then(
          (rows) => rows[0]!.s,
          (e: Error) => `(${e.message})`,
        );
        const got = parseSsn(seen);
        return got.num === want.num && got.names.join(' ') === want.names.join(' ');
      },
      { timeoutMs: LIVENESS_MS, intervalMs: 200, what: `synchronous_standby_names on ${name} to be '${expected}'` },
    ).catch((err: Error) => withLogs(new Error(`${err.message}; last seen '${seen}'`)));
  }

  before(async () => {
    etcd = await EtcdCluster.start({ members: 1 });
    cluster = await TestCluster.create({ size: 3, scope: 'batman', store: { etcd3: { hosts: etcd.endpoints } } });
  });

  after(async () => {
    await cluster?.destroy();
    await etcd?.stop();
  });

  it('enabling quorum commit on a lone leader; it promotes after a restart; strict mode sets the placeholder', async () => {
    cluster.startAgent('node1');
    assert.equal(await cluster.waitForHealthy(['node1'], BOOTSTRAPPED_WITHIN_MS).catch(withLogs), 'node1');
    // "there is a non empty initialize key in DCS": the bootstrap is done and the config key written.
    await statusIs('node1', '/config', 200);
    await patchConfig('node1', { synchronous_mode: 'quorum' });
    await syncKeyHas('leader', 'node1');
    await syncKeyHas('quorum', '0');
    await ssnIs('node1', '');
    await shutDown(cluster, 'node1');
    await syncKeyHas('leader', 'node1');
    cluster.startAgent('node1');
    await roleIs('node1', 'primary');
    await patchConfig('node1', { synchronous_mode_strict: true });
    await ssnIs('node1', 'ANY 1 (__patroni_strict_sync_replica_placeholder__)');
  });

  it('strict mode keeps the old synchronous standby in the setting after a failover', async () => {
    cluster.startAgent('node2');
    await syncKeyHas('sync_standby', 'node2');
    await ssnIs('node1', 'ANY 1 ("node2")');
    await shutDown(cluster, 'node1');
    await roleIs('node2', 'primary');
    await cluster.waitForLog('node2', new RegExp(`WARNING: .*${STRICT_WARNING}`)).catch(withLogs);
    await syncKeyHas('leader', 'node2');
    await syncKeyHas('sync_standby', 'node1');
    await syncKeyHas('quorum', '0');
    await ssnIs('node2', 'ANY 1 ("node1")');
  });

  it('three members and a different replication factor', async () => {
    cluster.startAgent('node1');
    cluster.startAgent('node3');
    await syncKeyHas('sync_standby', 'node1,node3');
    await syncKeyHas('quorum', '1');
    await ssnIs('node2', 'ANY 1 ("node1","node3")');
    await patchConfig('node2', { synchronous_node_count: 2 });
    await syncKeyHas('quorum', '0');
    await ssnIs('node2', 'ANY 2 ("node1","node3")');
  });

  it('from quorum replication to good old multisync and back', async () => {
    await patchConfig('node2', { synchronous_mode: true, synchronous_node_count: 1 });
    await shutDown(cluster, 'node1');
    await ssnIs('node2', '"node3"');
    await syncKeyHas('sync_standby', 'node3');
    await syncKeyHas('quorum', '0');
    await patchConfig('node2', { synchronous_mode: 'quorum' });
    cluster.startAgent('node1');
    await ssnIs('node2', 'ANY 1 ("node1","node3")');
    await syncKeyHas('sync_standby', 'node1,node3');
    await syncKeyHas('quorum', '1');
  });

  it('REST API and hactl list', async () => {
    const list = await hactl(['list', cluster.scope, ...apiFlags(cluster.nodes)]);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /Quorum Standby/);
    await statusIs('node1', '/quorum', 200);
    await statusIs('node3', '/quorum', 200);
  });

  it('a nosync member is removed from the voters and from synchronous_standby_names', async () => {
    await editMemberConfig(cluster.node('node3').configPath, { 'tags.nosync': true });
    const reload = await post(cluster, 'node3', '/reload');
    assert.equal(reload.status, 202, await reload.text());
    await syncKeyHas('quorum', '0');
    await syncKeyHas('sync_standby', 'node1');
    await ssnIs('node2', 'ANY 1 ("node1")');
    await statusIs('node3', '/quorum', 503);
  });
});

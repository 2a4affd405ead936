// The HA loop's executor against the in-memory DCS and a real PostgreSQL 15: one member bootstraps
// a cluster, renews the leader key every cycle, and demotes itself when the key is taken from it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseConfig, type HactlConfig } from '../../src/config/index.js';
import { MemoryDcsStore, type MemoryDcs } from '../../src/dcs/index.js';
import { createContext, type PgContext } from '../../src/postgres/index.js';
import { HaLoop } from '../../src/agent/ha/loop.js';
import { postgresControl } from '../../src/agent/ha/postgres-control.js';
import { bootstrapOptions, postgresOptions, effectiveDynamic } from '../../src/agent/settings.js';
import { createLineLogger } from '../../src/logger.js';
import { pgUser } from '../helpers/postgres.js';
import { inRecovery, writeClusterConfigs, TestCluster, type NodeSpec } from '../helpers/cluster.js';
import { LIVENESS_MS, SUITE_MS, waitUntil } from '../helpers/wait.js';

describe('HA loop with the memory DCS and a real PostgreSQL', { timeout: SUITE_MS }, () => {
  let cluster: TestCluster;
  let node: NodeSpec;
  let config: HactlConfig;
  let ctx: PgContext;
  let store: MemoryDcsStore;
  let dcs: MemoryDcs;
  let loop: HaLoop;
  const lines: string[] = [];

  before(async () => {
    const written = await writeClusterConfigs({ size: 1, raft: false });
    cluster = new TestCluster(written.scope, written.nodes);
    node = written.nodes[0]!;
    config = parseConfig(readFileSync(node.configPath, 'utf8'), node.configPath).config;
    const { dynamic } = effectiveDynamic(config, null);
    ctx = await createContext(postgresOptions(config, dynamic), { user: await pgUser() });
    store = new MemoryDcsStore();
    dcs = store.client(config.name, { scope: config.scope });
    loop = new HaLoop({
      dcs,
      postgres: postgresControl(() => ctx),
      local: () => config,
      bootstrapOptions: () => bootstrapOptions(config),
      logger: createLineLogger({ style: 'patroni', write: (l) => lines.push(l) }),
      version: 'test',
      onFatal: (reason) => lines.push(`FATAL ${reason}`),
    });
  });

  after(async () => {
    await loop?.stop().catch(() => {});
    await dcs?.close().catch(() => {});
    await cluster?.destroy();
  });

  it('bootstraps a new cluster and takes the leader key', async () => {
    const first = await loop.runCycle();
    assert.equal(first.decision.action, 'bootstrap', lines.join('\n'));
    assert.equal((await dcs.getCluster()).initialize, '', 'initialize is claimed (empty) while bootstrapping');
    const report = await waitUntil(
      async () => {
        const r = await loop.runCycle();
        return r.observation.state.role === 'primary' && r.view?.leader?.name === 'node1' ? r : null;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'bootstrap to finish' },
    );
    const view = (await dcs.getCluster())!;
    assert.match(view.initialize ?? '', /^\d+$/, 'initialize holds the system identifier');
    assert.equal(view.config?.data.ttl, 6, 'bootstrap.dcs written to the config key');
    assert.equal(report.observation.state.dataDir, 'valid');
    assert.ok(lines.some((l) => l.includes('INFO: initialized a new cluster')), lines.join('\n'));
    assert.equal(view.members.find((m) => m.name === 'node1')?.role, 'primary');
  });

  it('renews the leader key every cycle and logs Patroni\'s status line', async () => {
    const before = (await dcs.getCluster()).leader!;
    const report = await loop.runCycle();
    assert.equal(report.decision.action, 'renew');
    assert.equal(report.decision.reason, 'no action. I am (node1), the leader with the lock');
    const afterRenew = (await dcs.getCluster()).leader!;
    assert.equal(afterRenew.name, 'node1');
    assert.notEqual(afterRenew.keyVersion, before.keyVersion, 'the renewal rewrote the key');
    assert.ok(loop.executor.self.leaseDeadlineMonoMs! > performance.now() + 4000, 'lease believed for about ttl from the send time');
    assert.ok(lines.some((l) => / INFO: no action\. I am \(node1\), the leader with the lock$/.test(l)));
    const status = (await dcs.getCluster()).status;
    assert.ok(status.lastLsn !== null && status.lastLsn > 0n, 'the renewal published the primary position');
  });

  it('demotes itself when the leader key is taken by another member', async () => {
    store.set(`/service/${config.scope}/leader`, 'node9', { ttlMs: 60_000 });
    const report = await loop.runCycle();
    assert.equal(report.decision.action, 'demote', lines.slice(-5).join('\n'));
    assert.equal(report.decision.reason, 'demoting self because I do not have the lock and I was a leader');
    assert.equal(loop.executor.self.leaseDeadlineMonoMs, null);
    assert.ok(existsSync(path.join(node.dataDir, 'standby.signal')), 'configured as a standby');
    assert.notEqual(await inRecovery(node), false, 'no longer a writable primary');
    // The next cycle starts it as a replica (of nobody reachable: node9 has no member key).
    const next = await loop.runCycle();
    assert.equal(next.decision.action, 'start-as-replica', lines.slice(-5).join('\n'));
    await waitUntil(async () => (await inRecovery(node)) === true, { timeoutMs: LIVENESS_MS, what: 'running as a replica' });
    assert.equal(store.get(`/service/${config.scope}/leader`)?.value, 'node9', 'the other member keeps its key');
  });
});

// Probes of the failsafe_mode tests (test/e2e/failsafe.test.ts, test/compat/dcs-failsafe-mode.test.ts):
// REST calls on a member, a write probe, turning the mode on, and "writes outlive the lease".
import assert from 'node:assert/strict';
import { sql, type NodeSpec, type TestCluster } from './cluster.js';
import { LIVENESS_MS, sleep, waitUntil } from './wait.js';

/** A REST call on a member (no credentials: the fixtures' APIs are open), status and body text. */
export async function rest(node: NodeSpec, path: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${node.host}:${node.apiPort}${path}`, {
    method: init.method ?? 'GET',
    headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(5_000),
  });
  return { status: res.status, text: await res.text() };
}

/** Whether `node` takes a write right now (the table comes from enableFailsafe). */
export async function acceptsWrites(node: NodeSpec): Promise<boolean> {
  try {
    await sql(node, 'INSERT INTO failsafe_probe VALUES (default)');
    return true;
  } catch {
    // Refused (read-only, in recovery) or not answering: either way not a write the primary took.
    return false;
  }
}

/** PATCHes `config` (failsafe_mode on) and waits until the GET /failsafe of each of `names` lists exactly them. */
export async function enableFailsafe(cluster: TestCluster, leader: string, config: Record<string, unknown>, names = cluster.nodes.map((n) => n.name)): Promise<void> {
  // A new leader writes the config key in the cycle after its bootstrap: PATCH answers 503 "config is not
  // set" before that (Patroni's feature waits for the key the same way).
  await waitUntil(async () => ((await rest(cluster.node(leader), '/config').catch(() => null))?.status === 200 ? true : null), {
    timeoutMs: LIVENESS_MS,
    what: `GET /config on ${leader} to answer 200 (the config key written)`,
  });
  const patched = await rest(cluster.node(leader), '/config', { method: 'PATCH', body: config });
  assert.equal(patched.status, 200, patched.text);
  names = [...names].sort();
  for (const node of names.map((n) => cluster.node(n))) {
    await waitUntil(
      async () => {
        const got = await rest(node, '/failsafe').catch(() => null);
        if (got?.status !== 200) return null;
        return JSON.stringify(Object.keys(JSON.parse(got.text) as object).sort()) === JSON.stringify(names) ? true : null;
      },
      { timeoutMs: LIVENESS_MS, what: `GET /failsafe on ${node.name} to list ${names.join(', ')}` },
    );
  }
  await sql(cluster.node(leader), 'CREATE TABLE IF NOT EXISTS failsafe_probe (id serial PRIMARY KEY)');
}

/**
 * With the store gone since `t0`: every write on the primary is accepted until well past ttl (the
 * last lease ran out at t0 + ttl at the latest), and no replica runs writable meanwhile.
 */
export async function writesOutliveTheLease(cluster: TestCluster, leader: string, t0: number, ttlMs: number, logs: () => string): Promise<number> {
  let accepted = 0;
  while (Date.now() - t0 < ttlMs + 6_000) {
    assert.ok(await acceptsWrites(cluster.node(leader)), `a write on ${leader} was refused ${Date.now() - t0} ms after the store went away\n${logs()}`);
    accepted++;
    assert.deepEqual(await cluster.primaries(), [leader], `only ${leader} runs writable`);
    await sleep(1_000);
  }
  return accepted;
}

// Patroni's behave steps that several ported features share (features/steps/*.py of patroni/patroni),
// written once on the cluster fixture: the facts they check, not their Python.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { HEALTHY_WITHIN_MS, sql, type TestCluster } from '../helpers/cluster.js';
import type { EtcdCluster } from '../helpers/etcd.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';

let tables = 0;

/** "replication works from A to B after N seconds": a table created on `from` shows up on `to`. */
export async function replicationWorks(cluster: TestCluster, from: string, to: string, timeoutMs = LIVENESS_MS): Promise<void> {
  const table = `replicate_${process.pid}_${++tables}`;
  await sql(cluster.node(from), `CREATE TABLE ${table} (id int)`);
  await waitUntil(async () => (await sql<{ ok: boolean }>(cluster.node(to), `SELECT to_regclass('${table}') IS NOT NULL AS ok`).catch(() => [{ ok: false }]))[0]!.ok, {
    timeoutMs,
    intervalMs: 200,
    what: `table ${table}, created on ${from}, to show up on ${to}`,
  });
}

/** "I create label with X in Y data directory": a file a clone copies along with the data. */
export async function writeLabel(cluster: TestCluster, name: string, label: string): Promise<void> {
  await fs.writeFile(path.join(cluster.node(name).dataDir, 'label'), label);
}

/** "there is a label with X in Y data directory". */
export async function readLabel(cluster: TestCluster, name: string): Promise<string | null> {
  return fs.readFile(path.join(cluster.node(name).dataDir, 'label'), 'utf8').catch(() => null);
}

/** POST to a member's REST API (the fixture's members need no credentials). */
export function post(cluster: TestCluster, name: string, p: string, body?: unknown): Promise<Response> {
  const node = cluster.node(name);
  return fetch(`http://${node.host}:${node.apiPort}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
}

/** The member's agent is stopped the way Patroni's "I shut down X" stops it: SIGTERM, and it exits 0. */
export async function shutDown(cluster: TestCluster, name: string): Promise<void> {
  const proc = cluster.agents.get(name);
  if (!proc || proc.hasExited) return;
  proc.signal('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([proc.exited, new Promise<string>((r) => (timer = setTimeout(() => r('still running'), LIVENESS_MS)))]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${name}'s agent did not exit 0 after SIGTERM within ${LIVENESS_MS} ms (${code})\n${proc.output().split('\n').slice(-20).join('\n')}`);
}

/**
 * A key of the cluster as the store holds it, for ports on one etcd member (Patroni's `"<key>" key in DCS
 * has …` reads the DCS too): `members/<name>`, `sync`, `status`…; null when the key is absent.
 */
export async function dcsKey(etcd: EtcdCluster, scope: string, name: string): Promise<Record<string, unknown> | null> {
  const key = `/service/${scope}/${name}`;
  const res = await fetch(`http://${etcd.endpoints[0]}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(key).toString('base64') }), signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { kvs?: { value: string }[] };
  const value = body.kvs?.[0]?.value;
  return value ? (JSON.parse(Buffer.from(value, 'base64').toString('utf8')) as Record<string, unknown>) : null;
}

/** A logical slot's confirmed_flush_lsn on a member (as text), or null when it has no such slot or does not answer. */
export async function confirmedFlushLsn(cluster: TestCluster, name: string, slot: string): Promise<string | null> {
  const rows = await sql<{ lsn: string | null }>(cluster.node(name), "SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1 AND slot_type = 'logical'", [slot]).catch(() => []);
  return rows[0]?.lsn ?? null;
}

/**
 * "logical slot X is in sync between A and B after N seconds": both members hold the slot with the same
 * confirmed_flush_lsn (Patroni's features/steps/slots.py). Returns that position.
 */
export async function logicalSlotInSync(cluster: TestCluster, slot: string, a: string, b: string, timeoutMs = LIVENESS_MS): Promise<string> {
  return waitUntil(
    async () => {
      const [x, y] = [await confirmedFlushLsn(cluster, a, slot), await confirmedFlushLsn(cluster, b, slot)];
      // Thrown, so the timeout reports what each member had last.
      if (x === null || x !== y) throw new Error(`${a} ${x ?? 'no slot'}, ${b} ${y ?? 'no slot'}`);
      return x;
    },
    { timeoutMs, intervalMs: 200, what: `logical slot ${slot} in sync between ${a} and ${b}` },
  );
}

/** "I get all changes from logical slot X on A": a consumer reads (and confirms) everything the slot has. */
export async function getAllChanges(cluster: TestCluster, name: string, slot: string): Promise<void> {
  await sql(cluster.node(name), 'SELECT count(*) FROM pg_catalog.pg_logical_slot_get_changes($1, NULL, NULL)', [slot]);
}

/** A member's REST URL (the fixture's members need no credentials). */
export function apiUrl(cluster: TestCluster, name: string, p: string): string {
  const node = cluster.node(name);
  return `http://${node.host}:${node.apiPort}${p}`;
}

/** PATCH /config through `via`, which must answer 200 (Patroni's "I issue a PATCH request to …"). */
export async function patchConfig(cluster: TestCluster, via: string, patch: Record<string, unknown>): Promise<void> {
  const res = await fetch(apiUrl(cluster, via, '/config'), {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(patch),
    signal: AbortSignal.timeout(30_000),
  });
  if (res.status !== 200) throw new Error(`PATCH /config through ${via} answered ${res.status}: ${await res.text()}`);
}

/** GET `p` on `name` answers `code` within the wait; the error names the last status seen (0: no answer). */
export async function statusIs(cluster: TestCluster, name: string, p: string, code: number): Promise<void> {
  let seen = 0;
  await waitUntil(async () => (seen = (await fetch(apiUrl(cluster, name, p), { signal: AbortSignal.timeout(2000) }).catch(() => null))?.status ?? 0) === code, {
    timeoutMs: LIVENESS_MS,
    intervalMs: 200,
    what: `GET ${p} on ${name} to answer ${code}`,
  }).catch((err: Error) => {
    throw new Error(`${err.message}; last seen ${seen}`);
  });
}

/** `name`'s PostgreSQL runs as `role` within the wait; the error names what pg_is_in_recovery() last gave. */
export async function roleIs(cluster: TestCluster, name: string, role: 'primary' | 'replica', timeoutMs = HEALTHY_WITHIN_MS): Promise<void> {
  let seen: unknown = null;
  await waitUntil(
    async () => {
      seen = await sql<{ r: boolean }>(cluster.node(name), 'SELECT pg_is_in_recovery() AS r').then((rows) => rows[0]!.r, (e: Error) => e.message);
      return seen === (role === 'replica');
    },
    { timeoutMs, intervalMs: 200, what: `${name}'s PostgreSQL to run as ${role}` },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; pg_is_in_recovery() last gave ${JSON.stringify(seen)}`);
  });
}

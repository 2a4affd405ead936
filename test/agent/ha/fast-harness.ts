// One member's HA loop and executor on the memory store, a manual clock and a FakePostgres
// (test/helpers/fake-postgres.ts): everything the executor does happens in milliseconds, and every
// step it took on PostgreSQL is in `pg.calls`. Peers are other clients of the same store.
import { parseConfig, type HactlConfig } from '../../../src/config/index.js';
import { ManualClock, MemoryDcsStore, type ClusterView, type MemberData, type MemoryDcs } from '../../../src/dcs/index.js';
import type { CycleState } from '../../../src/agent/ha/executor.js';
import { HaLoop } from '../../../src/agent/ha/loop.js';
import type { PostFailsafe } from '../../../src/agent/ha/failsafe-round.js';
import type { Decision, DecideInput } from '../../../src/agent/ha/types.js';
import { bootstrapOptions, effectiveDynamic } from '../../../src/agent/settings.js';
import { createLineLogger } from '../../../src/logger.js';
import { FakePostgres, fakeInstance, type FakeInstance } from '../../helpers/fake-postgres.js';
import { member } from './fixtures.js';

export const SCOPE = 'fast';
export const TTL_S = 30;

export function configYaml(name: string, extra = ''): string {
  return `scope: ${SCOPE}
name: ${name}
restapi:
  listen: 127.0.0.1:8008
  connect_address: ${name}:8008
bootstrap:
  dcs:
    ttl: ${TTL_S}
    loop_wait: 10
    retry_timeout: 10
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
postgresql:
  listen: 127.0.0.1:5432
  connect_address: ${name}:5432
  data_dir: /fake/data
  authentication:
    superuser: { username: postgres }
    replication: { username: replicator }
${extra}`;
}

/** A member key as another agent publishes it (reachable at `<name>:5432` / `<name>:8008`): fixtures.ts's member. */
export function peerData(name: string, overrides: Partial<MemberData> = {}): MemberData {
  const { name: _name, keyVersion: _version, ...data } = member(name, { version: 'test', ...overrides });
  return data;
}

export interface FastMember {
  name: string;
  clock: ManualClock;
  store: MemoryDcsStore;
  dcs: MemoryDcs;
  pg: FakePostgres;
  config: HactlConfig;
  loop: HaLoop;
  lines: string[];
  fatal: string[];
  /** Answers of the peers' GET /patroni by API URL; a URL not here does not answer. */
  peerStatus: Map<string, unknown>;
  /** One HA cycle, then waits for the long action it started (bounded). */
  cycle(): Promise<Decision>;
  /** Another member of the same cluster (its own store client). */
  peer(name: string, data?: Partial<MemberData>): Promise<MemoryDcs>;
  /** The executor's input for a decision made outside decide (direct branch tests). */
  cycleState(input: DecideInput, view: ClusterView | null): CycleState;
  /** Log lines since the last call. */
  newLines(): string[];
}

export async function fastMember(
  options: { name?: string; instance?: Partial<FakeInstance>; extraYaml?: string; store?: MemoryDcsStore; clock?: ManualClock; postFailsafe?: PostFailsafe } = {},
): Promise<FastMember> {
  const name = options.name ?? 'srv2';
  const clock = options.clock ?? new ManualClock(1_000_000);
  const store = options.store ?? new MemoryDcsStore({ clock });
  const config = parseConfig(configYaml(name, options.extraYaml), `${name}.yml`).config;
  const dcs = store.client(name, { scope: SCOPE });
  const pg = new FakePostgres(fakeInstance(options.instance));
  const lines: string[] = [];
  const fatal: string[] = [];
  const peerStatus = new Map<string, unknown>();
  const loop = new HaLoop({
    dcs,
    postgres: pg,
    local: () => config,
    bootstrapOptions: () => bootstrapOptions(config),
    logger: createLineLogger({ style: 'patroni', write: (l) => lines.push(l) }),
    version: 'test',
    monoNow: () => clock.nowMs(),
    fetchStatus: async (url) => {
      if (!peerStatus.has(url)) throw new Error(`connect ECONNREFUSED ${url}`);
      return peerStatus.get(url);
    },
    onFatal: (reason) => fatal.push(reason),
    postFailsafe: options.postFailsafe ?? (async (url) => Promise.reject(new Error(`connect ECONNREFUSED ${url}`))),
  });
  let seen = 0;
  return {
    name,
    clock,
    store,
    dcs,
    pg,
    config,
    loop,
    lines,
    fatal,
    peerStatus,
    async cycle() {
      const report = await loop.runCycle();
      await loop.executor.runner.settle(2_000);
      return report.decision;
    },
    async peer(peerName, data = {}) {
      const client = store.client(peerName, { scope: SCOPE });
      await client.touchMember(peerData(peerName, data), TTL_S * 1000);
      return client;
    },
    cycleState(input, view) {
      return { input, view, dynamic: effectiveDynamic(config, view).dynamic, observation: { state: input.local, server: null, pendingRestartSettings: [] } };
    },
    newLines() {
      const out = lines.slice(seen);
      seen = lines.length;
      return out;
    },
  };
}

// One lease holder of the Jepsen-style run as its own process (spawned by lease-holders.ts), so that
// the nemesis can freeze it with SIGSTOP the way a suspend freezes a host. It acquires, renews and
// now and then releases one TTL key through random members, believing the lease for the holder rule
// of src/raft/kv/lease.ts on its clock, and prints every finished operation as a "LOCKOP {json}" line.
//
// Its clock: "holder" is the product's holder clock (CLOCK_BOOTTIME, src/agent/fence/holder-clock.ts),
// which counts a suspend. "monotonic" models CLOCK_MONOTONIC, which stands still while the host
// sleeps: the boot-time clock minus the suspended time the nemesis wrote into `frozenFile` before it
// let the process run again. Times in LOCKOP lines are boot-time ms (the run's common scale), except
// `believedUntilOwn`, which is on the holder's own clock (the parent converts it, lease-holders.ts).
//
//   node --import tsx test/raft/process/lease-holder-child.ts '<HolderSpec json>'
import { readFileSync } from 'node:fs';
import { holderNowMs } from '../../../src/agent/fence/holder-clock.js';
import { holderDeadlineMs } from '../../../src/raft/kv/lease.js';
import type { KvCommand, KvResult } from '../../../src/raft/kv/types.js';
import { unwrapReply } from '../../../src/raft/node/rpc.js';
import { connectRpc, type RpcClient } from '../../../src/raft/transport/index.js';
import { Rng } from '../../helpers/prng.js';
import { sleep } from '../../helpers/wait.js';

export interface HolderSpec {
  id: string;
  addrs: string[];
  key: string;
  ttlMs: number;
  seed: number;
  clock: 'holder' | 'monotonic';
  frozenFile: string;
  /** Probability of a release instead of a renew while holding (default 0.1). */
  releaseChance?: number;
}

export interface HolderLine {
  kind: 'acquire' | 'renew' | 'release';
  sentAt: number;
  completedAt: number | null;
  ok: boolean | null;
  believedUntilOwn?: number;
}

const spec = JSON.parse(process.argv[2] ?? '') as HolderSpec;
const rng = new Rng(spec.seed);
let stopped = false;
process.on('SIGTERM', () => (stopped = true));

function frozenMs(): number {
  try {
    return Number(readFileSync(spec.frozenFile, 'utf8')) || 0;
  } catch (err) {
    // Not written yet: this holder was never suspended.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

const own = spec.clock === 'holder' ? holderNowMs : () => holderNowMs() - frozenMs();

// One client id per process incarnation, as the store's sessions require (src/raft/kv/store.ts):
// seq restarts at 1 here, so a holder id reused on the same store (the holder-suspend tests share
// one cluster) would have its first writes answered 'stale-request' from the earlier process's session.
const CLIENT_ID = `jepsen-${spec.id}-${process.pid}`;
const clients = new Map<string, Promise<RpcClient>>();
async function write(addr: string, command: KvCommand, seq: number, timeoutMs: number): Promise<KvResult> {
  let c = clients.get(addr);
  if (!c) {
    c = connectRpc(addr, { password: null, timeoutMs });
    clients.set(addr, c);
    c.catch(() => clients.delete(addr));
  }
  try {
    const req = { kind: 'kv', op: 'write', command, clientId: CLIENT_ID, seq, timeoutMs };
    return unwrapReply(await (await c).request(req, timeoutMs + 500)).result as KvResult;
  } catch (err) {
    clients.delete(addr);
    void c.then((x) => x.close()).catch(() => undefined);
    throw err;
  }
}

let seq = 0;
let believedUntil = -Infinity;
let mayBeMine = false;
while (!stopped) {
  const addr = rng.pick(spec.addrs);
  const sentOwn = own();
  const line: HolderLine = { kind: 'acquire', sentAt: holderNowMs(), completedAt: null, ok: null };
  const holding = sentOwn < believedUntil;
  const release = holding && rng.chance(spec.releaseChance ?? 0.1);
  line.kind = release ? 'release' : holding || mayBeMine ? 'renew' : 'acquire';
  if (release) {
    // It stops acting as owner before it asks to release.
    believedUntil = -Infinity;
    mayBeMine = false;
  }
  const me = spec.id;
  const command: KvCommand =
    line.kind === 'release'
      ? { op: 'delete', key: spec.key, ifValue: me }
      : line.kind === 'renew'
        ? { op: 'set', key: spec.key, value: me, ttlMs: spec.ttlMs, ifValue: me }
        : { op: 'set', key: spec.key, value: me, ttlMs: spec.ttlMs, ifVersion: 0 };
  try {
    const res = await write(addr, command, ++seq, spec.ttlMs / 3);
    line.completedAt = holderNowMs();
    line.ok = res.ok;
    if (line.kind !== 'release') {
      if (res.ok) {
        // Counted from the send on the holder's own clock (src/raft/kv/lease.ts).
        line.believedUntilOwn = holderDeadlineMs(sentOwn, spec.ttlMs);
        believedUntil = Math.max(believedUntil, line.believedUntilOwn);
        mayBeMine = true;
      } else {
        mayBeMine = res.current?.value === me;
        if (line.kind === 'renew') believedUntil = -Infinity;
      }
    }
  } catch {
    // Unknown outcome: the holder keeps its last confirmed deadline and learns nothing.
  }
  process.stdout.write(`LOCKOP ${JSON.stringify(line)}\n`);
  await sleep((spec.ttlMs / 3) * rng.range(0.5, 1));
}
for (const c of clients.values()) await c.then((x) => x.close()).catch(() => undefined);
process.exit(0);

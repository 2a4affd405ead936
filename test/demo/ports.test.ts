// Port reservations for local clusters (src/demo/ports.ts): outside the kernel's ephemeral range,
// exclusive across processes, skipped when something else listens, and given back by the kernel
// when the holder dies (SIGKILL included, so no stale lock to clean up).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { ephemeralRange, freePorts, isReserved, releasePorts, reservableRange } from '../../src/demo/ports.js';
import { ProcessRegistry } from '../helpers/process.js';
import { waitUntil } from '../helpers/wait.js';

const PORTS_MODULE = fileURLToPath(new URL('../../src/demo/ports.ts', import.meta.url));
const registry = new ProcessRegistry();

/** A child process that reserves every port of `range` it can and prints them, then stays alive. */
async function childHolding(range: { low: number; high: number }) {
  const script = `
    const { freePorts } = await import(${JSON.stringify(PORTS_MODULE)});
    const got = [];
    for (let i = ${range.low}; i <= ${range.high}; i++) {
      try { got.push(...(await freePorts(1, '127.0.0.1', { low: i, high: i }))); } catch {}
    }
    console.log('HELD ' + JSON.stringify(got));
    setInterval(() => {}, 1000);`;
  const proc = registry.spawn('holder', process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
  const line = await waitUntil(() => /HELD (\[.*\])/.exec(proc.output())?.[1], { timeoutMs: 30_000, what: 'the child to report its ports' });
  return { proc, ports: JSON.parse(line) as number[] };
}

/**
 * A few ports above the ephemeral range, where the other hactl processes on this machine (which
 * reserve below it) do not look: what this file frees is not taken by a concurrent test meanwhile.
 */
function privateRange(size: number): { low: number; high: number } {
  const eph = ephemeralRange();
  const room = 65535 - eph.high - size;
  assert.ok(room > 100, `no room above the ephemeral range ${eph.low}-${eph.high} for this test`);
  const low = eph.high + 1 + Math.floor(Math.random() * (room - 1));
  return { low, high: low + size - 1 };
}

after(async () => {
  await registry.killAll();
  registry.dispose();
});

describe('port reservations', () => {
  it('come from outside the ephemeral range and are distinct', async () => {
    const eph = ephemeralRange();
    const ports = await freePorts(20);
    assert.equal(new Set(ports).size, 20);
    for (const p of ports) {
      assert.ok(p < eph.low || p > eph.high, `${p} is inside the ephemeral range ${eph.low}-${eph.high}`);
      assert.ok(isReserved(p));
    }
    await releasePorts(ports);
    assert.ok(ports.every((p) => !isReserved(p)));
  });

  it('range: below the ephemeral range, above it when there is no room below, an error when neither fits', () => {
    assert.deepEqual(reservableRange({ low: 32768, high: 60999 }), { low: 20000, high: 32767 });
    assert.deepEqual(reservableRange({ low: 1500, high: 50000 }), { low: 50001, high: 62768 });
    assert.throws(() => reservableRange({ low: 1100, high: 65000 }), /no room for local cluster ports outside the ephemeral range 1100-65000/);
  });

  it('a port another process holds is not handed out until that process dies (SIGKILL frees it)', async () => {
    const range = privateRange(5);
    const holder = await childHolding(range);
    assert.ok(holder.ports.length > 0, 'the child reserved something');
    const mine = await freePorts(5 - holder.ports.length, '127.0.0.1', range).catch(() => [] as number[]);
    for (const p of mine) assert.ok(!holder.ports.includes(p), `port ${p} handed out twice`);
    await assert.rejects(freePorts(1, '127.0.0.1', range), /only 0 of 1 ports free/);
    holder.proc.signal('SIGKILL');
    await holder.proc.exited;
    const again = await freePorts(holder.ports.length, '127.0.0.1', range);
    assert.deepEqual([...again].sort(), [...holder.ports].sort());
    await releasePorts([...mine, ...again]);
  });

  it('skips a port on which something outside the scheme listens', async () => {
    const port = privateRange(1).low;
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen({ host: '127.0.0.1', port: port! }, resolve));
    try {
      await assert.rejects(freePorts(1, '127.0.0.1', { low: port!, high: port! }), /only 0 of 1 ports free/);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    assert.deepEqual(await freePorts(1, '127.0.0.1', { low: port!, high: port! }), [port]);
  });
});

// Real processes: 2,000 parallel connects to a live member, mixing idle connections, garbage,
// oversized length prefixes and handshakes that stall, while a client keeps writing. The cluster
// keeps a leader and keeps committing. Needs `npm run build` first.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { RaftCluster } from './cluster.js';
import { LIVENESS_MS, waitUntil } from '../../helpers/wait.js';

const FLOOD = 2_000;
/** The flood comes from its own loopback address, as an attacker's would from its own host. */
const ATTACKER = '127.0.0.77';

/** One hostile connection: kind 0 idle, 1 garbage, 2 oversized frame, 3 a Hello then silence. */
function hostile(port: number, kind: number): Promise<'closed' | 'refused' | 'timeout'> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, localAddress: ATTACKER });
    // Bound: the 2 s handshake timeout plus the time a connection can wait in the kernel's accept
    // queue (2,000 SYNs overflow it; retried SYNs get in seconds later).
    const timer = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, 30_000);
    let connected = false;
    s.on('connect', () => {
      connected = true;
      if (kind === 1) s.write('GET / HTTP/1.1\r\nHost: raft\r\n\r\n');
      if (kind === 2) s.write(Buffer.from([0x7f, 0xff, 0xff, 0xff, 3, 1]));
      if (kind === 3) s.write(Buffer.from([0, 0, 0, 44, 3, 1, 2, 0, 0, 0, 0, 0, 0, 0, 32, ...Buffer.alloc(32), 1]));
    });
    // Read what the member answers (a Challenge): an unread readable never emits 'end', so the
    // member's close would go unnoticed here.
    s.resume();
    // Resets and refusals are outcomes of the flood, told apart by 'connected' below.
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(connected ? 'closed' : 'refused');
    });
  });
}

describe('a live member under a connection flood', { timeout: 180_000 }, () => {
  let cluster: RaftCluster;
  before(async () => {
    cluster = await RaftCluster.start({ size: 3, password: 'flood secret' });
  });
  after(async () => {
    await cluster?.destroy();
  });

  it(`keeps a leader and keeps committing through ${FLOOD} parallel hostile connects`, async () => {
    const leader = await cluster.waitForLeader();
    const port = Number(leader.slice(leader.lastIndexOf(':') + 1));
    let committed = 0;
    let failed = 0;
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          if ((await cluster.write(leader, { op: 'set', key: `/flood/${i}`, value: 'x' }, { timeoutMs: 5_000 })).ok) committed++;
        } catch {
          // Counted: under the flood a write may time out; what matters is that writes keep committing.
          failed++;
        }
      }
    })();
    const before = committed;
    const outcomes = await Promise.all(Array.from({ length: FLOOD }, (_, i) => hostile(port, i % 4)));
    const during = committed - before;
    stop = true;
    await writer;
    assert.equal(outcomes.filter((o) => o === 'timeout').length, 0, 'every hostile connection was closed by the member');
    assert.ok(during > 0, `writes committed during the flood: ${during} (failed: ${failed})`);
    const after = await cluster.waitForLeader({ timeoutMs: LIVENESS_MS });
    assert.equal((await cluster.write(after, { op: 'set', key: '/flood/after', value: 'y' })).ok, true);
    for (const addr of cluster.addrs) {
      await waitUntil(async () => ((await cluster.status(addr))?.keys ?? 0) >= committed + 1 ? true : null, { what: `${addr} to hold every committed key`, timeoutMs: LIVENESS_MS });
    }
    const out = cluster.proc(leader).output();
    assert.match(out, /refusing connections \(\d+ so far\)/, 'the admission limit was what shed the flood');
    assert.doesNotMatch(out, /ready loop failed|uncaught|FATAL/i);
  });
});

// The one-minute Jepsen-style run (test/raft/process/jepsen.ts): five real members under kill -9,
// SIGSTOP/SIGCONT, EIO from a member's storage, a suspended lease holder, partitions and a full disk
// (the last two as root); register and lease histories and every member's term and vote checked.
// The ten-minute run is `node --import tsx bench/raft/jepsen.ts` (figures in bench/RESULTS.md).
// Seed: HACTL_JEPSEN_SEED (printed on failure). Needs `npm run build` first.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runJepsen } from './jepsen.js';

const SEED = Number(process.env.HACTL_JEPSEN_SEED ?? Math.floor(Math.random() * 1e9));

describe('the Raft store under a nemesis (real processes)', { timeout: 300_000 }, () => {
  it(`keeps register and lease histories linearizable and serves again once healed (seed ${SEED})`, async (t) => {
    const lines: string[] = [];
    const report = await runJepsen({ seed: SEED, durationMs: 45_000, partitions: true, diskFull: true, eio: true, holderSuspend: true, log: (l) => lines.push(l) });
    for (const s of report.skipped) t.diagnostic(`skipped fault: ${s}`);
    const story = `seed ${SEED}: ${JSON.stringify({ ...report, registerVerdict: undefined, lockVerdict: undefined })}\n${lines.slice(-40).join('\n')}`;
    assert.equal(report.registerVerdict, 'ok', `register history: ${report.registerVerdict}\n${story}`);
    assert.match(report.lockVerdict, /^ok/, `lease history: ${report.lockVerdict}\n${story}`);
    assert.equal(report.anomalies, 0, story);
    assert.equal(report.refusedRestarts, 0, `a member refused to restart\n${story}`);
    assert.deepEqual(report.voterRegressions, [], `term or vote went back\n${story}`);
    assert.deepEqual(report.eio.unrecovered, [], `a member did not persist again after an EIO window\n${story}`);
    // Each EIO window ended one of the allowed ways; a refusal must say why (file, offset, what to do).
    assert.equal(report.eio.recovered + report.eio.restarted + report.eio.refused.length, report.faults.eio, story);
    for (const r of report.eio.refused) assert.match(r, /refus|damage|corrupt/i, story);
    assert.ok(report.finalLeader, story);
    // The run did something: faults happened, and operations completed through them.
    assert.ok(Object.values(report.faults).reduce((a, b) => a + b, 0) >= 6, story);
    assert.ok(report.faults.eio >= 1 && report.faults['holder-suspend'] >= 1, `no EIO window or no holder suspend ran\n${story}`);
    assert.ok(report.registerOk >= 100, `only ${report.registerOk} register operations completed\n${story}`);
    assert.ok(report.acquired >= 1, `no lease was ever acquired\n${story}`);
    t.diagnostic(`seed ${SEED}: ${report.registerOps} register ops (${report.registerUnknown} unknown), ${report.lockOps} lease ops, faults ${JSON.stringify(report.faults)}, EIO ${JSON.stringify(report.eio)}, voter checks ${report.voterChecks}, crashes ${report.crashes}, anomalies ${report.anomalies}`);
  });
});

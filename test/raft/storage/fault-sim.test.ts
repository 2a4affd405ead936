/**
 * Seeded storage fault simulation: FileStorage (journal, voter file, snapshot file) on SimFs, the
 * in-memory disk that loses unsynced writes at a crash, tears sectors, loses directory entries,
 * fails any call with ENOSPC or EIO and flips bits. Each seed runs a workload (workload.ts) with
 * several crashes; after every crash and restart:
 * - term and vote never go back: the restarted term is at least the last acknowledged one, with
 *   the same vote when equal;
 * - no acknowledged entry is lost: the log is exactly the workload's log after some op at or
 *   after the last acknowledged one (log-model.ts);
 * - the node recovers, or — only when a bit was flipped in durable data — refuses to start with
 *   StorageCorruptError; a crash alone never looks like corruption.
 *
 *   HACTL_STORAGE_SEEDS=N      seeds (default 500; `npm run sim:long` runs 5000)
 *   HACTL_STORAGE_SEED_BASE=B  first seed (default 1)
 *   HACTL_STORAGE_SEED=S       run only seed S (prints what happened)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FileStorage, StorageCorruptError, StorageIoError, type LoadedState } from '../../../src/raft/storage/index.js';
import type { HardState } from '../../../src/raft/core/types.js';
import { Rng } from '../../helpers/prng.js';
import { LogModel } from './log-model.js';
import { ProcessGone, SimFs } from './sim-fs.js';
import { workload, type WorkOp } from './workload.js';

const SEEDS = Number(process.env.HACTL_STORAGE_SEEDS ?? 500);
const BASE = Number(process.env.HACTL_STORAGE_SEED_BASE ?? 1);
const ONLY = process.env.HACTL_STORAGE_SEED;
const DIR = '/sim/raft';
const ROUNDS = 80;
const CRASHES = 3;

class Crash extends Error {}

function isCrash(err: unknown): boolean {
  const e = err as { cause?: unknown } | null;
  return err instanceof Crash || err instanceof ProcessGone || e?.cause instanceof Crash || e?.cause instanceof ProcessGone;
}

const quiet = ONLY === undefined
  ? { debug() {}, info() {}, warn() {}, error() {} }
  : { debug() {}, info() {}, warn: (m: string) => console.log(`WARN ${m}`), error: (m: string) => console.log(`ERROR ${m}`) };

interface SeedResult {
  torn: number;
  lostDirOps: number;
  crashes: number;
  refusals: number;
  flips: number;
  log: string[];
}

/** Open the storage, retrying injected I/O errors as a node restarting would. */
async function open(fs: SimFs): Promise<{ storage: FileStorage; state: LoadedState }> {
  for (let attempt = 0; ; attempt++) {
    const storage = new FileStorage(DIR, quiet, { fs: fs.handle(), segmentBytes: 2048 });
    try {
      return { storage, state: await storage.load() };
    } catch (err) {
      if (!(err instanceof StorageIoError) || isCrash(err) || attempt > 50) throw err;
    }
  }
}

/** Runs `fn` (a sync or snapshot), retrying injected failures the way the Ready loop does. */
async function durably(fn: () => Promise<void>, retry: () => Promise<void>): Promise<void> {
  try {
    await fn();
    return;
  } catch (err) {
    if (!(err instanceof StorageIoError) || isCrash(err)) throw err;
  }
  for (let attempt = 0; ; attempt++) {
    try {
      await retry();
      return;
    } catch (err) {
      if (!(err instanceof StorageIoError) || isCrash(err) || attempt > 200) throw err;
    }
  }
}

async function runSeed(seed: number): Promise<SeedResult> {
  const rng = new Rng(seed);
  const fs = new SimFs(rng);
  const ops: WorkOp[] = workload(seed, ROUNDS, 600);
  const model = new LogModel(ops);
  const result: SeedResult = { torn: 0, lostDirOps: 0, crashes: 0, refusals: 0, flips: 0, log: [] };
  const note = (s: string) => result.log.push(s);

  let { storage } = await open(fs);
  let acked = -1; // last op known durable
  let ackedVoter = { term: 0, vote: null as string | null };
  let issued = { term: 0, vote: null as string | null };
  let next = 0;
  for (let crash = 0; crash <= CRASHES && next < ops.length; crash++) {
    fs.failRate = rng.chance(0.5) ? 0.02 : 0;
    const crashAt = crash < CRASHES ? fs.calls + rng.int(1, 300) : Infinity;
    // Half the crashes hit while a write is in flight (at its fdatasync), where tearing happens.
    const atSync = rng.chance(0.5);
    fs.onCall = (op) => {
      if (fs.calls >= crashAt && (!atSync || op === 'fdatasync')) throw new Crash('crash');
    };
    try {
      for (; next < ops.length; next++) {
        const op = ops[next]!;
        if (op.kind === 'append') storage.append(op.entries);
        else if (op.kind === 'hardState') {
          // Never below what this incarnation restarted with (a node keeps its term in memory).
          const hs: HardState = op.hardState.term < issued.term ? { ...op.hardState, term: issued.term, vote: issued.vote } : op.hardState;
          storage.setHardState(hs);
          issued = { term: hs.term, vote: hs.vote };
        } else {
          const pending = { ...issued };
          if (op.kind === 'sync') await durably(() => storage.sync(), () => storage.sync());
          else await durably(() => storage.saveSnapshot(op.snapshot), () => storage.sync());
          acked = next;
          ackedVoter = pending;
        }
      }
      fs.onCall = null;
      fs.failRate = 0;
      await storage.close();
      return result;
    } catch (err) {
      if (!isCrash(err)) throw err;
    }
    // Power loss, maybe followed by a damaged sector somewhere on disk.
    fs.onCall = null;
    fs.failRate = 0;
    const torn = fs.crash();
    result.crashes++;
    result.torn += torn.tornSectors;
    result.lostDirOps += torn.lostDirOps;
    const flip = rng.chance(0.15) ? fs.flipBit() : null;
    if (flip) result.flips++;
    note(`crash after op ${next} (acked ${acked}; ${torn.tornSectors} torn sectors, ${torn.lostDirOps} lost dir ops)` + (flip ? `, bit flipped in ${flip.file} at ${flip.offset}` : ''));
    let state: LoadedState;
    try {
      ({ storage, state } = await open(fs));
    } catch (err) {
      if (err instanceof StorageCorruptError && flip) {
        result.refusals++;
        note(`refused: ${err.message.split(';')[0]}`);
        return result;
      }
      throw new Error(`restart failed without a flipped bit: ${(err as Error).message}\n${result.log.join('\n')}\nfiles: ${fs.describe()}`);
    }
    const hs = state.hardState;
    const ctx = () => `\n${result.log.join('\n')}\nloaded: term ${hs.term} vote ${hs.vote} commit ${hs.commit}, snapshot ${state.snapshot?.meta.index ?? '-'}, ${state.entries.length} entries\nfiles: ${fs.describe()}`;
    assert.ok(hs.term >= ackedVoter.term, `term went back: ${hs.term} < acknowledged ${ackedVoter.term}${ctx()}`);
    if (hs.term === ackedVoter.term && ackedVoter.vote !== null) assert.equal(hs.vote, ackedVoter.vote, `vote changed within term ${hs.term}${ctx()}`);
    const sig = model.signatureOf(state.snapshot, state.entries);
    assert.ok(typeof sig !== 'string', `${sig}${ctx()}`);
    const j = model.firstMatch(sig, acked);
    assert.ok(j !== null, `the restarted log is not the workload's log after any op ≥ ${acked} (an acknowledged entry is lost or a foreign one appeared)${ctx()}`);
    const lastIndex = (state.snapshot?.meta.index ?? 0) + state.entries.length;
    assert.ok(hs.commit <= lastIndex, `commit ${hs.commit} past the log (${lastIndex})${ctx()}`);
    note(`restarted at op ${j}: term ${hs.term}, log of ${lastIndex}`);
    acked = j;
    next = j + 1;
    issued = { term: hs.term, vote: hs.vote };
    ackedVoter = { ...issued };
  }
  fs.onCall = null;
  await storage.close();
  return result;
}

describe('storage under injected faults (SimFs)', () => {
  if (ONLY !== undefined) {
    it(`seed=${ONLY}`, async () => {
      const r = await runSeed(Number(ONLY));
      console.log(r.log.join('\n'));
    });
    return;
  }

  it(`${SEEDS} seeds: crashes, torn sectors, lost directory entries, ENOSPC/EIO, bit flips`, async () => {
    let crashes = 0;
    let refusals = 0;
    let flips = 0;
    let torn = 0;
    let lostDirOps = 0;
    for (let seed = BASE; seed < BASE + SEEDS; seed++) {
      let r: SeedResult;
      try {
        r = await runSeed(seed);
      } catch (err) {
        assert.fail(`seed ${seed}: ${(err as Error).message}\nrerun: HACTL_STORAGE_SEED=${seed} node --import tsx --test test/raft/storage/fault-sim.test.ts`);
      }
      crashes += r.crashes;
      refusals += r.refusals;
      flips += r.flips;
      torn += r.torn;
      lostDirOps += r.lostDirOps;
    }
    if (process.env.HACTL_STORAGE_STATS) console.log({ crashes, torn, lostDirOps, flips, refusals });
    // The faults really happened (not a run where every crash point fell after the workload).
    assert.ok(crashes > SEEDS * 2, `only ${crashes} crashes`);
    assert.ok(flips > SEEDS / 10, `only ${flips} bit flips`);
    assert.ok(refusals > 0 && refusals < flips, `${refusals} refusals for ${flips} flips`);
    assert.ok(torn > SEEDS / 10 && lostDirOps > SEEDS / 20, `${torn} torn sectors, ${lostDirOps} lost directory operations`);
  });
});

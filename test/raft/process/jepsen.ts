// A Jepsen-style run on real processes: five `hactl raft node` members under a nemesis (kill -9 and
// restart, SIGSTOP/SIGCONT, network partitions between namespaces, a full tmpfs under one member's
// data directory, EIO from a member's storage through the switch of jepsen-eio.ts, and a lease
// holder suspended for longer than the ttl) while register clients (get / set / compare-and-set /
// delete through random members) and lease holders (separate processes on the product's holder
// clock, lease-holders.ts: acquire / renew / release of one TTL key) record every operation with its
// call and return time. Afterwards the register history goes through the linearizability checker,
// the lease history through the "never two owners at once" check (test/helpers/lincheck.ts), and
// every member's term and vote, read whenever it is down, must never go back (jepsen-eio.ts).
// Used by test/raft/process/jepsen.test.ts (about a minute) and bench/raft/jepsen.ts (ten minutes).
import { execFile } from 'node:child_process';
import { mkdir, open, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import type { KvCommand } from '../../../src/raft/kv/types.js';
import { checkHistory, checkLockHistory, kvRegisterModel, type KvOpInput, type KvOpOutput, type LockOp, type Operation } from '../../helpers/lincheck.js';
import { NetFault, netFaultSupported } from '../../helpers/netfault.js';
import { Rng } from '../../helpers/prng.js';
import { sleep } from '../../helpers/wait.js';
import { RaftCluster } from './cluster.js';
import { LeaseHolder } from './lease-holders.js';
import { awaitStorageHealthy, eioArgs, holdAndWatch, refusalReason, startEio, stopEio, VoterWatch, type EioMode } from './jepsen-eio.js';

const execFileAsync = promisify(execFile);

export type FaultKind = 'kill' | 'pause' | 'partition' | 'disk-full' | 'eio' | 'holder-suspend';

export interface JepsenOptions {
  seed: number;
  durationMs: number;
  /** Register clients and lease holders. */
  clients?: number;
  holders?: number;
  /** Register keys (default 3; more keys keep each key's history small for the checker). */
  keys?: number;
  /** Pause of a register client between operations (default 0). */
  thinkMs?: number;
  /** Network partitions (needs root: network namespaces). */
  partitions?: boolean;
  /** A full tmpfs under a member's data directory (needs root: mount). */
  diskFull?: boolean;
  /** EIO from one member's storage for a while (every member runs with --test-eio-file). */
  eio?: boolean;
  /** A lease holder's process stopped for longer than the ttl (a suspended host). */
  holderSuspend?: boolean;
  log?: (line: string) => void;
}

export interface JepsenReport {
  seed: number;
  durationMs: number;
  faults: Record<FaultKind, number>;
  /** Faults asked for but unavailable here, with why. */
  skipped: string[];
  registerOps: number;
  registerOk: number;
  registerUnknown: number;
  lockOps: number;
  acquired: number;
  /** Members that exited on their own (e.g. on a full disk) and were restarted. */
  crashes: number;
  /** Members that refused to restart (damaged data) outside an EIO fault: must be 0. */
  refusedRestarts: number;
  /** EIO windows: how each ended (see jepsen-eio.ts). */
  eio: {
    /** Windows in which the running member reported its storage failing (the fault reached it). */
    seenFailing: number;
    /** Still running at the end of the window and persisting again afterwards. */
    recovered: number;
    /** Killed inside the window and restarted with a state no older than before. */
    restarted: number;
    /** Killed inside the window, then refused to start (allowed; the reason, for the report). */
    refused: string[];
    /** Running but not persisting again within the bound (a liveness bug; must be empty). */
    unrecovered: string[];
  };
  /** Voter-file readings and start terms compared, and the regressions found (must be none). */
  voterChecks: number;
  voterRegressions: string[];
  /** Register anomalies (0 or 1: the checker stops at the first key without a linearization), lease overlaps, voter regressions. */
  anomalies: number;
  registerVerdict: string;
  lockVerdict: string;
  finalLeader: string | null;
}

const LOCK_KEY = '/j/leader';
const TTL_MS = 3_000;
const OP_TIMEOUT_MS = 2_000;
const PORT = 5010;

interface Run {
  cluster: RaftCluster;
  keys: string[];
  thinkMs: number;
  rng: Rng;
  stopped: boolean;
  /** Members deliberately down (killed, waiting for restart) or paused. */
  down: Set<string>;
  paused: Set<string>;
  ops: Operation<KvOpInput, KvOpOutput>[];
  holders: LeaseHolder[];
  crashes: number;
  refusedRestarts: number;
  /** Members inside an EIO window (the nemesis restarts them itself) and members that refused to start after one. */
  inEio: Set<string>;
  refused: Set<string>;
  eio: JepsenReport['eio'];
  eioFaults: boolean;
  voters: VoterWatch;
  log: (line: string) => void;
}

const now = (): number => performance.now();

export async function runJepsen(opts: JepsenOptions): Promise<JepsenReport> {
  const log = opts.log ?? (() => {});
  const skipped: string[] = [];
  const support = netFaultSupported();
  let nf: NetFault | null = null;
  if (opts.partitions && support.ok) nf = await NetFault.create(5);
  else if (opts.partitions && !support.ok) skipped.push(`partitions: ${support.reason}`);
  const rootOk = process.getuid?.() === 0;
  if (opts.diskFull && !rootOk) skipped.push('disk-full: mounting a tmpfs needs root');
  const mounts: string[] = [];
  const cluster = await RaftCluster.prepare({
    size: 5,
    password: null,
    addrs: nf?.addrs.map((a) => `${a}:${PORT}`),
    wrap: nf ? (addr, command, args) => nf!.wrap(addr.slice(0, addr.lastIndexOf(':')), command, args) : undefined,
  });
  const keys = Array.from({ length: opts.keys ?? 3 }, (_, i) => `/j/k${i}`);
  const run: Run = {
    cluster, keys, thinkMs: opts.thinkMs ?? 0, rng: new Rng(opts.seed), stopped: false, down: new Set(), paused: new Set(), ops: [], holders: [], crashes: 0, refusedRestarts: 0,
    inEio: new Set(), refused: new Set(), eio: { seenFailing: 0, recovered: 0, restarted: 0, refused: [], unrecovered: [] }, eioFaults: opts.eio === true, voters: new VoterWatch(), log,
  };
  const faults: Record<FaultKind, number> = { kill: 0, pause: 0, partition: 0, 'disk-full': 0, eio: 0, 'holder-suspend': 0 };
  let finalLeader: string | null = null;
  try {
    if (opts.diskFull && rootOk) {
      for (const addr of cluster.addrs) {
        const dir = cluster.dataDir(addr);
        await mkdir(dir, { recursive: true });
        await execFileAsync('mount', ['-t', 'tmpfs', '-o', 'size=96m,mode=0700', 'tmpfs', dir]);
        mounts.push(dir);
      }
    }
    for (const addr of cluster.addrs) startMember(run, addr);
    await Promise.all(cluster.addrs.map((a) => cluster.waitListening(a)));
    await cluster.waitForLeader({ timeoutMs: 60_000 });
    log(`cluster up: ${cluster.addrs.join(', ')}${nf ? ' (namespaces)' : ''}${mounts.length ? ' (tmpfs data dirs)' : ''}`);

    const kinds: FaultKind[] = ['kill', 'pause'];
    if (nf) kinds.push('partition');
    if (mounts.length) kinds.push('disk-full');
    if (run.eioFaults) kinds.push('eio');
    if (opts.holderSuspend) kinds.push('holder-suspend');
    const workers = [...Array.from({ length: opts.clients ?? 4 }, (_, i) => registerClient(run, `c${i}`, run.rng.fork())), watchCrashes(run)];
    for (let i = 0; i < (opts.holders ?? 3); i++) {
      const id = `h${i}`;
      const frozenFile = path.join(cluster.baseDir, `${id}.frozen`);
      run.holders.push(new LeaseHolder(cluster.registry, { id, addrs: cluster.addrs, key: LOCK_KEY, ttlMs: TTL_MS, seed: Math.floor(run.rng.next() * 2 ** 31), clock: 'holder', frozenFile }));
    }
    const nemesisRng = run.rng.fork();
    const end = now() + opts.durationMs;
    // Kinds are drawn from a bag, refilled when empty: every kind runs once per round, so a
    // short run still sees each of them.
    let bag: FaultKind[] = [];
    while (now() < end) {
      await sleep(nemesisRng.range(500, 2_000));
      if (bag.length === 0) bag = [...kinds];
      const kind = bag.splice(nemesisRng.int(0, bag.length), 1)[0]!;
      faults[kind]++;
      await inject(run, kind, nemesisRng, nf);
    }
    run.stopped = true;
    await Promise.all([...workers, ...run.holders.map((h) => h.stop())]);

    // Heal everything, then the group must serve again: a leader, a write, final reads into the history.
    await healAll(run, nf);
    finalLeader = await cluster.waitForLeader({ timeoutMs: 60_000 });
    for (const key of keys) {
      const call = now();
      const entry = (await cluster.read(finalLeader, key, true, 10_000)) as { value: string; version: number } | null;
      run.ops.push({ clientId: 'final', input: { op: 'get', key }, call, ret: now(), output: { ok: true, value: entry?.value ?? null, version: entry?.version } });
    }
  } finally {
    run.stopped = true;
    for (const addr of run.paused) cluster.procs.get(addr)?.signal('SIGCONT');
    for (const addr of run.inEio) await stopEio(cluster, addr);
    await cluster.registry.killAll();
    for (const dir of mounts) await execFileAsync('umount', ['-l', dir]).catch((err: Error) => log(`umount ${dir}: ${err.message}`));
    await cluster.destroy();
    await nf?.cleanup();
  }

  const register = checkHistory(kvRegisterModel, run.ops, { maxSteps: 50_000_000 });
  const lockOps: LockOp[] = run.holders.flatMap((h) => h.history());
  const lock = checkLockHistory(lockOps);
  const registerAnomalies = register.result === 'illegal' ? 1 : 0;
  const lockAnomalies = lock.ok ? 0 : lock.violations.length;
  const voterAnomalies = run.voters.regressions.length;
  return {
    seed: opts.seed,
    durationMs: opts.durationMs,
    faults,
    skipped,
    registerOps: run.ops.length,
    registerOk: run.ops.filter((o) => o.ret !== null).length,
    registerUnknown: run.ops.filter((o) => o.ret === null).length,
    lockOps: lockOps.length,
    acquired: lockOps.filter((o) => o.kind === 'acquire' && o.ok === true).length,
    crashes: run.crashes,
    refusedRestarts: run.refusedRestarts,
    eio: run.eio,
    voterChecks: run.voters.checks,
    voterRegressions: run.voters.regressions,
    anomalies: registerAnomalies + lockAnomalies + voterAnomalies,
    registerVerdict: register.result === 'ok' ? 'ok' : `${register.result}: ${register.message}`,
    lockVerdict: lock.ok ? `ok (${lock.claims.length} ownership intervals)` : lock.message,
    finalLeader,
  };
}

async function inject(run: Run, kind: FaultKind, rng: Rng, nf: NetFault | null): Promise<void> {
  const { cluster } = run;
  const up = cluster.addrs.filter((a) => !run.down.has(a) && !run.paused.has(a) && !run.refused.has(a));
  const victim = rng.pick(up.length ? up : cluster.addrs);
  const hold = rng.range(1_000, 4_000);
  if (kind !== 'holder-suspend') run.log(`nemesis: ${kind} ${victim} for ${Math.round(hold)} ms`);
  if (kind === 'kill') {
    run.down.add(victim);
    await cluster.kill(victim, 'SIGKILL');
    await run.voters.sampleDown(cluster, victim, 'after kill -9');
    await sleep(hold);
    const failed = await restart(run, victim);
    if (failed) run.refusedRestarts++;
  } else if (kind === 'holder-suspend') {
    // Longer than the ttl, so the others may take the key meanwhile: the suspended holder must not
    // believe in its lease once it runs again (its clock counts the suspend).
    const holder = rng.pick(run.holders);
    const ms = rng.range(TTL_MS, 2.5 * TTL_MS);
    run.log(`nemesis: holder-suspend ${holder.id} for ${Math.round(ms)} ms`);
    await holder.suspend(ms);
  } else if (kind === 'eio') {
    await eioWindow(run, victim, rng.chance(0.5) ? 'all' : 'sync', hold, rng.chance(0.4));
  } else if (kind === 'pause') {
    run.paused.add(victim);
    cluster.proc(victim).signal('SIGSTOP');
    await sleep(hold);
    cluster.proc(victim).signal('SIGCONT');
    run.paused.delete(victim);
  } else if (kind === 'partition' && nf) {
    // A minority of one or two cut off from the rest (the test process still reaches everyone).
    const minority = [victim, ...(rng.chance(0.5) ? [rng.pick(cluster.addrs.filter((a) => a !== victim))] : [])].map(host);
    const majority = cluster.addrs.map(host).filter((h) => !minority.includes(h));
    for (const m of minority) await nf.isolate(m, majority);
    await sleep(hold);
    await nf.heal();
  } else if (kind === 'disk-full') {
    const filler = path.join(cluster.dataDir(victim), 'filler');
    await fill(filler);
    await sleep(hold);
    await rm(filler, { force: true });
  }
}

function host(addr: string): string {
  return addr.slice(0, addr.lastIndexOf(':'));
}

/** Writes `file` until the file system is full (ENOSPC), so the member's next write fails. */
async function fill(file: string): Promise<void> {
  const fh = await open(file, 'w');
  try {
    const s = await statfs(path.dirname(file));
    const chunk = Buffer.alloc(1 << 20);
    for (let left = s.bavail * s.bsize + (1 << 20); left > 0; left -= chunk.length) await fh.write(chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    // ENOSPC is the point: the file system is full now.
  } finally {
    await fh.close();
  }
}

/**
 * EIO from `victim`'s storage for `hold` ms ("all": writes and syncs fail; "sync": syncs fail and
 * drop the unsynced bytes), optionally killed with -9 at the end of the window, as the disk still
 * fails. Then the member must recover, or restart with a state no older than before, or refuse.
 */
async function eioWindow(run: Run, victim: string, mode: EioMode, hold: number, killInside: boolean): Promise<void> {
  const { cluster } = run;
  run.inEio.add(victim);
  run.log(`nemesis: eio ${mode} on ${victim}${killInside ? ', kill -9 inside the window' : ''}`);
  try {
    await startEio(cluster, victim, mode);
    if (await holdAndWatch(cluster, victim, hold)) run.eio.seenFailing++;
    if (killInside && !cluster.proc(victim).hasExited) {
      run.down.add(victim);
      await cluster.kill(victim, 'SIGKILL');
    }
  } finally {
    await stopEio(cluster, victim);
  }
  try {
    if (!cluster.proc(victim).hasExited) {
      const stuck = await awaitStorageHealthy(cluster, victim);
      if (stuck === null) {
        run.eio.recovered++;
        return;
      }
      if (!cluster.proc(victim).hasExited) {
        run.eio.unrecovered.push(`${victim} (${mode}): ${stuck}`);
        return;
      }
    }
    // Killed inside the window, or it exited on its own: what does a restart load?
    if (!killInside) {
      run.crashes++;
      run.log(`${victim} exited during an EIO window: ${cluster.proc(victim).output().slice(-600)}`);
    }
    run.down.add(victim);
    await run.voters.sampleDown(cluster, victim, `after EIO (${mode})`);
    const failed = await restart(run, victim);
    if (failed === null) run.eio.restarted++;
    else {
      run.refused.add(victim);
      run.eio.refused.push(`${victim} (${mode}): ${failed}`);
    }
  } finally {
    run.inEio.delete(victim);
  }
}

function startMember(run: Run, addr: string): void {
  run.cluster.startNode(addr, run.cluster.addrs, run.eioFaults ? eioArgs(run.cluster, addr) : []);
}

/** Restarts `addr`; null once it listens (its start term checked), else why it did not start. */
async function restart(run: Run, addr: string): Promise<string | null> {
  startMember(run, addr);
  try {
    await run.cluster.waitListening(addr, 60_000);
  } catch (err) {
    const why = run.cluster.proc(addr).hasExited ? refusalReason(run.cluster.proc(addr).output()) : (err as Error).message;
    run.log(`restart of ${addr} failed: ${why}`);
    return why;
  } finally {
    run.down.delete(addr);
  }
  run.voters.checkLoaded(addr, run.cluster.proc(addr).output(), 'at restart');
  return null;
}

/** A member that exits on its own (not killed by the nemesis) is counted and restarted. */
async function watchCrashes(run: Run): Promise<void> {
  while (!run.stopped) {
    await sleep(200);
    for (const addr of run.cluster.addrs) {
      if (run.down.has(addr) || run.inEio.has(addr) || run.refused.has(addr) || !run.cluster.proc(addr).hasExited) continue;
      run.crashes++;
      run.log(`${addr} exited by itself: ${run.cluster.proc(addr).output().slice(-600)}`);
      run.down.add(addr);
      await run.voters.sampleDown(run.cluster, addr, 'after exiting by itself');
      if (await restart(run, addr)) run.refusedRestarts++;
    }
  }
}

async function healAll(run: Run, nf: NetFault | null): Promise<void> {
  await nf?.heal();
  for (const addr of run.paused) run.cluster.proc(addr).signal('SIGCONT');
  run.paused.clear();
  for (const addr of run.cluster.addrs) {
    if (run.refused.has(addr) || !run.cluster.proc(addr).hasExited) continue;
    if (await restart(run, addr)) run.refusedRestarts++;
  }
}

async function registerClient(run: Run, id: string, rng: Rng): Promise<void> {
  let seq = 0;
  let n = 0;
  const versions = new Map<string, number>();
  while (!run.stopped) {
    const key = rng.pick(run.keys);
    const addr = rng.pick(run.cluster.addrs);
    const r = rng.next();
    let input: KvOpInput;
    if (r < 0.4) input = { op: 'get', key };
    else if (r < 0.65) input = { op: 'set', key, value: `${id}-${++n}` };
    else if (r < 0.9) input = { op: 'set', key, value: `${id}-${++n}`, ifVersion: versions.get(key) ?? 0 };
    else input = { op: 'delete', key };
    const call = now();
    try {
      if (input.op === 'get') {
        const entry = (await run.cluster.read(addr, key, true, OP_TIMEOUT_MS)) as { value: string; version: number } | null;
        if (entry) versions.set(key, entry.version);
        run.ops.push({ clientId: id, input, call, ret: now(), output: { ok: true, value: entry?.value ?? null, version: entry?.version } });
      } else {
        const command: KvCommand = input.op === 'set' ? { op: 'set', key, value: input.value, ifVersion: input.ifVersion } : { op: 'delete', key };
        const res = await run.cluster.write(addr, command, { timeoutMs: OP_TIMEOUT_MS, clientId: `jepsen-${id}`, seq: ++seq });
        const ret = now();
        if (res.ok) {
          if (res.entry) versions.set(key, res.entry.version);
          run.ops.push({ clientId: id, input, call, ret, output: input.op === 'set' ? { ok: true, version: res.entry?.version } : { ok: true } });
        } else if (res.reason === 'stale-request') {
          // Never sent twice with one seq: this would be a store bug; keep it visible as unknown.
          run.ops.push({ clientId: id, input, call, ret: null, output: null });
        } else {
          if (res.current) versions.set(key, res.current.version);
          run.ops.push({ clientId: id, input, call, ret, output: { ok: false, reason: res.reason } });
        }
      }
    } catch {
      // No answer: a read changed nothing and is left out; a write may or may not have happened.
      if (input.op !== 'get') run.ops.push({ clientId: id, input, call, ret: null, output: null });
      await sleep(50);
    }
    if (run.thinkMs > 0) await sleep(run.thinkMs);
  }
}

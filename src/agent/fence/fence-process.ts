/**
 * The fence process (issue 9): a separate OS process, spawned by the agent, that owns the right of
 * the local PostgreSQL to run as a primary. After every confirmed leader-key renewal the agent
 * sends `arm` with a deadline on the host's CLOCK_MONOTONIC (deadline.ts says why it comes before
 * any possible expiry of the key). If the deadline passes while armed, the fence SIGKILLs the
 * postmaster and its children at once, writes a record file and logs why — whether or not the agent
 * is still there: a frozen agent (SIGSTOP, GC pause, an event loop stuck in I/O) or a killed one
 * cannot demote its own primary, and this process does not share its event loop or its fate.
 *
 * A certain death gives the key up at once (issue 17, death-release.ts): after a kill at the
 * deadline, and when the agent died and the fence then sees no process of PostgreSQL left in the data
 * directory, it deletes the leader key through any reachable store member, comparing the exact write
 * it was armed with. `fence.on_agent_death: kill` makes the agent's death itself a reason to kill.
 *
 * Deliberately imports nothing but node: builtins, fence-files.ts, data-dir-processes.ts,
 * death-release.ts and holder-clock.ts (builtins, plus koffi for CLOCK_BOOTTIME; protocol.ts is
 * type-only), so it starts in tens of milliseconds and nothing of the agent's can stall it. The store
 * client is loaded while idle right after start (config.store), else on the first arm that carries a
 * release, and used only after a kill. The kill path is synchronous on purpose: it must not wait
 * behind other callbacks (but see deadlineDue: it first reads what the agent already sent).
 *
 * Lifecycle: runs while the agent's pipe is open. When the pipe closes (agent exited or was
 * killed), a disarmed fence exits; an armed one keeps enforcing its deadline, then exits after
 * fencing (and a short watch, see `trippedWatchMs`). SIGTERM/SIGINT are ignored while armed and
 * connected (the agent disarms before it stops), and end an orphaned fence (a restarted agent
 * retires it once its own fence holds a newer deadline).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import type { LeaderRelease } from '../../dcs/types.js';
import { describeRunning, nothingRuns, observeDataDir, postmasterPidFileOf, runsIn } from './data-dir-processes.js';
import { DEATH_POLL_MS, describeClaim, releaseWhenDead, warmRelease, warmStoreClient } from './death-release.js';
import { killPrimaryIn } from './kill-primary.js';
import { appendNoFollow, readFileNoFollow, replaceFileNoFollow } from './fence-files.js';
import { HOLDER_RECHECK_MS, holderClockNs, holderClockSource } from './holder-clock.js';
import type { AgentToFence, FencedRecord, FenceProcessConfig, FenceState, FenceToAgent } from './protocol.js';

interface Armed {
  deadlineNs: bigint;
  dataDir: string;
  postmasterPid: number | null;
  reason: string;
  /** The leader key as the renewal behind this deadline wrote it (issue 17); null: nothing to release. */
  release: LeaderRelease | null;
}

/** After a kill, how long the processes of the killed server get to exit before a release gives up. */
const RELEASE_CONFIRM_MS = 3000;
/** How long a release tries the store members (past the lease's end the key has expired anyway). */
const RELEASE_TIMEOUT_MS = 10_000;

const config = JSON.parse(process.argv[2] ?? '{}') as FenceProcessConfig;
let armed: Armed | null = null;
let timer: NodeJS.Timeout | null = null;
/** Data dir of the last kill while no new arm/disarm came: keep killing a primary that comes up there. */
let tripped: { dataDir: string; untilNs: bigint | null } | null = null;
let trippedTimer: NodeJS.Timeout | null = null;
let connected = true;
let fencedCount = 0;
let lastRefusalLogNs = 0n;
/** Polls the data directory while the agent is dead and the fence armed: a certain death releases at once. */
let deathTimer: NodeJS.Timeout | null = null;
/** A release under way: the process does not exit before it ends. */
let releasing: Promise<boolean> | null = null;
let warmed = false;

function log(level: 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL', message: string): void {
  const iso = new Date().toISOString();
  const line = `${iso.slice(0, 10)} ${iso.slice(11, 19)},${iso.slice(20, 23)} ${level}: fence[${process.pid}]: ${message}\n`;
  try {
    process.stderr.write(line);
  } catch {
    // the agent is gone; the log file below still gets it
  }
  if (config.logFile) {
    try {
      appendNoFollow(config.logFile, line);
    } catch {
      // nothing better to do
    }
  }
}

function send(msg: FenceToAgent): void {
  if (!connected) return;
  try {
    process.stdout.write(JSON.stringify(msg) + '\n');
  } catch {
    // EPIPE: the agent died; 'close' on stdin tells us too
  }
}

function state(): FenceState {
  return { armed: armed !== null, deadlineMonoNs: armed ? String(armed.deadlineNs) : null, dataDir: armed?.dataDir ?? null, fencedCount };
}

/**
 * The holder clock (holder-clock.ts: CLOCK_BOOTTIME, suspend included), the agent's lease clock too.
 * `testClockJumpFile` (tests only) adds the ms it holds, to simulate a suspend the fence slept through.
 */
const now = (): bigint => holderClockNs() + testClockJumpNs();
function testClockJumpNs(): bigint {
  if (!config.testClockJumpFile) return 0n;
  const ms = Number(readFileNoFollow(config.testClockJumpFile).text?.trim() ?? 0);
  return Number.isFinite(ms) && ms > 0 ? BigInt(Math.floor(ms * 1e6)) : 0n;
}
const msUntil = (ns: bigint) => Number(ns - now()) / 1e6;

/** `testStallOnceMs` (tests only): the event loop blocked once, as on a host that starves the fence of CPU. */
function stallOnceForTests(): void {
  const ms = config.testStallOnceMs ?? 0;
  if (ms <= 0) return;
  config.testStallOnceMs = 0;
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy: nothing else of this process runs meanwhile
  }
}

function writeRecord(record: FencedRecord): void {
  try {
    replaceFileNoFollow(config.recordFile, JSON.stringify(record, null, 2) + '\n', 0o644);
  } catch (err) {
    log('ERROR', `could not write the fence record ${config.recordFile}: ${(err as Error).message}`);
  }
}

// ----------------------------------------------------------------------------------------------
// The deadline
// ----------------------------------------------------------------------------------------------

/** `atOnce`: fence.on_agent_death is kill and the agent died — before the deadline, by choice. */
function fence(atOnce = false): void {
  const a = armed;
  if (!a) return;
  const firedNs = now();
  armed = null;
  clearTimer();
  stopDeathWatch();
  const { postmasterPid, killed } = killPrimaryIn(a.dataDir, a.postmasterPid);
  const lateByMs = Number(firedNs - a.deadlineNs) / 1e6;
  const reason = atOnce
    ? 'the agent died and fence.on_agent_death is kill'
    : connected
      ? 'the leader lease deadline passed without a renewal from the agent (agent frozen or stuck)'
      : 'the leader lease deadline passed after the agent died';
  if (postmasterPid === null) {
    // Nothing ran as a primary: no record (a stale arm after a kill must not overwrite the real one).
    log('WARNING', atOnce ? `${reason}; no postmaster was running in ${a.dataDir}` : `deadline passed ${lateByMs.toFixed(1)} ms ago; no postmaster was running in ${a.dataDir}`);
    trip(a.dataDir);
    release(a, atOnce ? 'the agent died' : 'the lease deadline passed');
    return;
  }
  fencedCount += 1;
  const record: FencedRecord = {
    fencedAt: new Date().toISOString(),
    fencedAtMonoNs: String(firedNs),
    deadlineMonoNs: String(a.deadlineNs),
    lateByMs: Math.round(lateByMs * 1000) / 1000,
    reason,
    dataDir: a.dataDir,
    postmasterPid,
    killedPids: killed,
    agentConnected: connected,
    fencePid: process.pid,
  };
  writeRecord(record);
  const when = atOnce ? `at once, ${(-lateByMs).toFixed(1)} ms before the deadline` : `${lateByMs.toFixed(1)} ms after the deadline`;
  log('CRITICAL', `killed PostgreSQL (postmaster ${postmasterPid} and ${killed.length - 1} children) ${when}: ${reason}`);
  send({ type: 'fenced', record });
  trip(a.dataDir);
  release(a, 'the kill');
}

/**
 * Gives the key up once nothing of the killed (or dead) server remains (death-release.ts). Runs after
 * trip(), so a primary that comes up in the data directory meanwhile is killed; the compare-and-delete
 * on the armed version makes it a no-op once anyone renewed or took the key since.
 */
function release(a: Armed, why: string): void {
  if (!a.release) {
    log('INFO', `no leader-key claim to release (${why}): the key expires at the end of its lease`);
    return;
  }
  const pending = releaseWhenDead(a.dataDir, a.release, why, { confirmMs: RELEASE_CONFIRM_MS, timeoutMs: RELEASE_TIMEOUT_MS, log }).catch((err: unknown) => {
    log('ERROR', `the release of the leader key failed: ${(err as Error).message}; it expires at the end of its lease`);
    return false;
  });
  releasing = pending;
  void pending.finally(() => {
    if (releasing === pending) releasing = null;
    if (!connected && config.trippedWatchMs <= 0) finish('fenced after the agent died');
  });
}

/**
 * The agent is dead and the fence armed (fence.on_agent_death: wait): PostgreSQL may be dead too — a
 * crash of both, an OOM kill, kill -9 of both. Check at once and then every DEATH_POLL_MS: the
 * postmaster's pid first (one read), the whole data directory once it is gone. A certain death
 * (nothing runs, every process inspected) trips the data directory and releases the key; anything
 * else waits for the deadline as before.
 */
function startDeathWatch(): void {
  if (deathTimer || !armed) return;
  const check = () => {
    const a = armed;
    if (!a || connected) return stopDeathWatch();
    const pm = postmasterPidFileOf(a.dataDir) ?? a.postmasterPid;
    if (pm !== null && runsIn(pm, a.dataDir)) return;
    if (!nothingRuns(observeDataDir(a.dataDir))) return;
    armed = null;
    clearTimer();
    stopDeathWatch();
    log('CRITICAL', `the agent and PostgreSQL are both dead: no process has ${a.dataDir} as its working directory; releasing ${a.release ? describeClaim(a.release) : 'nothing (no claim)'}`);
    trip(a.dataDir);
    release(a, 'the agent and PostgreSQL died');
  };
  deathTimer = setInterval(check, DEATH_POLL_MS);
  check();
}

function stopDeathWatch(): void {
  if (deathTimer) clearInterval(deathTimer);
  deathTimer = null;
}

/**
 * After a kill nothing may come back up as a primary in that data directory until the agent says
 * so again (arm or disarm): a `pg_ctl start` launched before the agent froze could still bring a
 * postmaster up. Replicas (standby.signal present) are left alone — that is how the agent rejoins.
 */
function trip(dataDir: string): void {
  tripped = { dataDir, untilNs: connected ? null : now() + BigInt(config.trippedWatchMs) * 1_000_000n };
  trippedTimer ??= setInterval(watchTripped, 200);
  if (!connected && config.trippedWatchMs <= 0 && !releasing) finish('fenced after the agent died');
}

function watchTripped(): void {
  const t = tripped;
  if (!t) return;
  if (!connected && !fs.existsSync(t.dataDir)) finish(`the data directory ${t.dataDir} is gone`);
  if (!fs.existsSync(path.join(t.dataDir, 'standby.signal'))) {
    const { postmasterPid, killed } = killPrimaryIn(t.dataDir, null);
    if (postmasterPid !== null) log('CRITICAL', `killed a postmaster (${postmasterPid}, ${killed.length} processes) that came up as a primary in ${t.dataDir} after the fence fired`);
  }
  if (t.untilNs !== null && now() >= t.untilNs && !releasing) finish('fenced after the agent died');
}

function untrip(): void {
  tripped = null;
  if (trippedTimer) clearInterval(trippedTimer);
  trippedTimer = null;
}

function clearTimer(): void {
  if (timer) clearTimeout(timer);
  timer = null;
}

/**
 * setTimeout towards the deadline, then re-check the clock: a timer may fire a little early or late,
 * and it counts CLOCK_MONOTONIC, which stops during a suspend — so it never sleeps longer than
 * HOLDER_RECHECK_MS, and a resume past the deadline kills within that bound (deadline.ts, step 5).
 */
function schedule(): void {
  clearTimer();
  if (!armed) return;
  const leftMs = msUntil(armed.deadlineNs);
  if (leftMs <= 0) {
    fence();
    return;
  }
  timer = setTimeout(deadlineDue, Math.max(1, Math.min(HOLDER_RECHECK_MS, Math.floor(leftMs))));
}

/**
 * The timer fired. Before a kill, take in what the agent already sent: a fence starved of CPU (a
 * loaded host) wakes with its timer overdue AND the renewal that moved the deadline unread in the
 * pipe — Node runs due timers before it reads I/O, so killing here would act on a deadline the agent
 * has already replaced (seen: a kill 1 s late, with a newer arm waiting). setImmediate runs right
 * after the next I/O poll, which reads the pipe without blocking: the delay is that one poll (ms),
 * well inside the safety margin, and the deadline is re-checked against whatever was read.
 */
function deadlineDue(): void {
  timer = null;
  setImmediate(() => {
    if (timer === null) schedule();
  });
}

/**
 * The fence mostly sleeps, and when it must act it has to act on time, also on a host whose CPUs are
 * busy with the very PostgreSQL it guards: it asks for a higher CPU priority than the default, which
 * root (or CAP_SYS_NICE) gets. Without the right it runs at the default priority and says so.
 */
const FENCE_NICE = -10;
function raisePriority(): string {
  try {
    os.setPriority(FENCE_NICE);
    return `CPU priority nice ${FENCE_NICE}`;
  } catch (err) {
    return `CPU priority unchanged (nice ${os.getPriority()}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
}

function finish(why: string): never {
  log('INFO', `exiting: ${why}`);
  if (config.pidFile) {
    try {
      if (readFileNoFollow(config.pidFile).text?.trim() === String(process.pid)) fs.unlinkSync(config.pidFile);
    } catch {
      // not ours or gone
    }
  }
  process.exit(0);
}

function handle(msg: AgentToFence): void {
  switch (msg.type) {
    case 'arm': {
      if (msg.fencedSeen !== undefined && msg.fencedSeen < fencedCount) {
        const refused = `not armed (${msg.reason}): sent before the agent heard that the fence killed PostgreSQL`;
        log('WARNING', refused);
        send({ type: 'ack', seq: msg.seq, state: state(), refused });
        return;
      }
      untrip();
      armed = { deadlineNs: BigInt(msg.deadlineMonoNs), dataDir: msg.dataDir, postmasterPid: msg.postmasterPid, reason: msg.reason, release: msg.release ?? null };
      if (armed.release && !warmed) {
        warmed = true;
        warmRelease(armed.release, log);
      }
      schedule();
      stallOnceForTests();
      break;
    }
    case 'disarm': {
      // Stand down only on a positive observation (issue 13 item 4): nothing in the data directory.
      // An agent's belief that PostgreSQL stopped (an unreadable pg_control reads as "stopped") is not one.
      const dir = armed?.dataDir ?? tripped?.dataDir ?? null;
      if (msg.ifStopped && dir !== null) {
        const seen = observeDataDir(dir);
        if (!nothingRuns(seen)) {
          const refused = `not disarmed (${msg.reason}): ${describeRunning(seen)}`;
          // The agent asks again for a few seconds while a stopped server's last processes exit: log once a second.
          if (now() - lastRefusalLogNs >= 1_000_000_000n) {
            lastRefusalLogNs = now();
            log('WARNING', `${refused}${armed ? '; the deadline still holds' : ''}`);
          }
          send({ type: 'ack', seq: msg.seq, state: state(), refused });
          return;
        }
      }
      untrip();
      if (armed) log('INFO', `disarmed: ${msg.reason}`);
      armed = null;
      clearTimer();
      break;
    }
    case 'ping':
      break;
  }
  send({ type: 'ack', seq: msg.seq, state: state() });
}

function onAgentGone(): void {
  if (!connected) return;
  connected = false;
  if (armed) {
    if (config.onAgentDeath === 'kill') {
      log('WARNING', "the agent's pipe closed: killing PostgreSQL at once (fence.on_agent_death: kill)");
      fence(true);
      return;
    }
    log('WARNING', `the agent's pipe closed; still enforcing the deadline in ${Math.max(0, msUntil(armed.deadlineNs)).toFixed(0)} ms, or releasing the key at once if PostgreSQL is dead too`);
    startDeathWatch();
    return;
  }
  if (tripped) {
    tripped.untilNs = now() + BigInt(config.trippedWatchMs) * 1_000_000n;
    return;
  }
  finish("the agent's pipe closed while disarmed");
}

function onSignal(sig: NodeJS.Signals): void {
  if (!connected) finish(`${sig}: superseded (the agent's pipe is closed)`);
  if (armed) {
    log('WARNING', `${sig} ignored while armed (the agent disarms before it stops)`);
    return;
  }
  finish(sig);
}

function main(): void {
  if (!config.recordFile) {
    process.stderr.write('fence: missing configuration argument\n');
    process.exit(2);
  }
  if (config.pidFile) {
    try {
      replaceFileNoFollow(config.pidFile, `${process.pid}\n`, 0o644);
    } catch (err) {
      log('WARNING', `could not write the pid file ${config.pidFile}: ${(err as Error).message}`);
    }
  }
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => onSignal(sig));
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => {
    if (line.trim() === '') return;
    let msg: AgentToFence;
    try {
      msg = JSON.parse(line) as AgentToFence;
    } catch {
      log('ERROR', `ignoring a malformed message: ${line.slice(0, 200)}`);
      return;
    }
    handle(msg);
  });
  rl.on('close', onAgentGone);
  // Belt and braces: should the pipe's other end be held open by anything, the agent's death
  // still shows as a new parent (init or a subreaper adopts us).
  const parent = process.ppid;
  setInterval(() => {
    if (connected && process.ppid !== parent) {
      rl.close();
    }
  }, 1000).unref();
  log('INFO', `started; lease deadlines on the holder clock (${holderClockSource()}); ${raisePriority()}`);
  send({ type: 'ready', pid: process.pid, state: state() });
  // After `ready`, while nothing is armed yet as a rule: the store client for a release (see protocol.ts `store`).
  if (config.store) setImmediate(() => warmStoreClient(config.store!, log));
}

main();

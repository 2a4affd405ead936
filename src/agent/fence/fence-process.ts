/**
 * The fence process (issue 9): a separate OS process, spawned by the agent, that owns the right of
 * the local PostgreSQL to run as a primary. After every confirmed leader-key renewal the agent
 * sends `arm` with a deadline on the host's CLOCK_MONOTONIC (deadline.ts says why it comes before
 * any possible expiry of the key). If the deadline passes while armed, the fence SIGKILLs the
 * postmaster and its children at once, writes a record file and logs why — whether or not the agent
 * is still there: a frozen agent (SIGSTOP, GC pause, an event loop stuck in I/O) or a killed one
 * cannot demote its own primary, and this process does not share its event loop or its fate.
 *
 * Deliberately imports nothing but node: builtins (protocol.ts is type-only), so it starts in tens
 * of milliseconds and nothing of the agent's can stall it. Everything here is synchronous on
 * purpose: the kill path must not wait behind other callbacks.
 *
 * Lifecycle: runs while the agent's pipe is open. When the pipe closes (agent exited or was
 * killed), a disarmed fence exits; an armed one keeps enforcing its deadline, then exits after
 * fencing (and a short watch, see `trippedWatchMs`). SIGTERM/SIGINT are ignored while armed and
 * connected (the agent disarms before it stops), and end an orphaned fence (a restarted agent
 * retires it once its own fence holds a newer deadline).
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { AgentToFence, FencedRecord, FenceProcessConfig, FenceState, FenceToAgent } from './protocol.js';

interface Armed {
  deadlineNs: bigint;
  dataDir: string;
  postmasterPid: number | null;
  reason: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as FenceProcessConfig;
let armed: Armed | null = null;
let timer: NodeJS.Timeout | null = null;
/** Data dir of the last kill while no new arm/disarm came: keep killing a primary that comes up there. */
let tripped: { dataDir: string; untilNs: bigint | null } | null = null;
let trippedTimer: NodeJS.Timeout | null = null;
let connected = true;
let fencedCount = 0;

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
      fs.appendFileSync(config.logFile, line);
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

const now = () => process.hrtime.bigint();
const msUntil = (ns: bigint) => Number(ns - now()) / 1e6;

// ----------------------------------------------------------------------------------------------
// Finding and killing the postmaster
// ----------------------------------------------------------------------------------------------

function postmasterPidOf(dataDir: string): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function realpathOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

/**
 * A pid is our postmaster when it is alive and its working directory is the data directory (the
 * postmaster chdirs there): a recycled pid of another process never matches.
 */
function isPostmasterOf(pid: number, dataDir: string): boolean {
  try {
    return fs.readlinkSync(`/proc/${pid}/cwd`) === realpathOr(dataDir);
  } catch {
    return false;
  }
}

/** Direct children of `pid`, from /proc/N/stat (field 4; the comm in parentheses may hold spaces). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * Freeze the postmaster (no new backend can be forked), SIGKILL every child — the backends are
 * what acknowledge commits, and each is its own process group leader (PostgreSQL's
 * InitPostmasterChild calls setsid), so their groups too — then the postmaster.
 */
function killPostmaster(pid: number): number[] {
  const killed: number[] = [];
  signal(pid, 'SIGSTOP');
  for (const child of childrenOf(pid)) {
    if (signal(child, 'SIGKILL')) killed.push(child);
    signal(-child, 'SIGKILL');
  }
  if (signal(pid, 'SIGKILL')) killed.unshift(pid);
  return killed;
}

/** `postgres --single` (crash recovery before pg_rewind): no client can connect, so it acknowledges nothing. */
function isSingleUser(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--single');
  } catch {
    return false;
  }
}

function killPrimaryIn(dataDir: string, hintPid: number | null): { postmasterPid: number | null; killed: number[] } {
  const candidates = [...new Set([postmasterPidOf(dataDir), hintPid].filter((p): p is number => p !== null))];
  let postmasterPid: number | null = null;
  const killed: number[] = [];
  for (const pid of candidates) {
    if (!isPostmasterOf(pid, dataDir) || isSingleUser(pid)) continue;
    postmasterPid ??= pid;
    killed.push(...killPostmaster(pid));
  }
  return { postmasterPid, killed };
}

function writeRecord(record: FencedRecord): void {
  const tmp = `${config.recordFile}.tmp-${process.pid}`;
  try {
    const fd = fs.openSync(tmp, 'w', 0o644);
    fs.writeSync(fd, JSON.stringify(record, null, 2) + '\n');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, config.recordFile);
  } catch (err) {
    log('ERROR', `could not write the fence record ${config.recordFile}: ${(err as Error).message}`);
  }
}

// ----------------------------------------------------------------------------------------------
// The deadline
// ----------------------------------------------------------------------------------------------

function fence(): void {
  const a = armed;
  if (!a) return;
  const firedNs = now();
  armed = null;
  clearTimer();
  const { postmasterPid, killed } = killPrimaryIn(a.dataDir, a.postmasterPid);
  const lateByMs = Number(firedNs - a.deadlineNs) / 1e6;
  const reason = connected
    ? 'the leader lease deadline passed without a renewal from the agent (agent frozen or stuck)'
    : 'the leader lease deadline passed after the agent died';
  if (postmasterPid === null) {
    // Nothing ran as a primary: no record (a stale arm after a kill must not overwrite the real one).
    log('WARNING', `deadline passed ${lateByMs.toFixed(1)} ms ago; no postmaster was running in ${a.dataDir}`);
    trip(a.dataDir);
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
  log('CRITICAL', `killed PostgreSQL (postmaster ${postmasterPid} and ${killed.length - 1} children) ${lateByMs.toFixed(1)} ms after the deadline: ${reason}`);
  send({ type: 'fenced', record });
  trip(a.dataDir);
}

/**
 * After a kill nothing may come back up as a primary in that data directory until the agent says
 * so again (arm or disarm): a `pg_ctl start` launched before the agent froze could still bring a
 * postmaster up. Replicas (standby.signal present) are left alone — that is how the agent rejoins.
 */
function trip(dataDir: string): void {
  tripped = { dataDir, untilNs: connected ? null : now() + BigInt(config.trippedWatchMs) * 1_000_000n };
  trippedTimer ??= setInterval(watchTripped, 200);
  if (!connected && config.trippedWatchMs <= 0) finish('fenced after the agent died');
}

function watchTripped(): void {
  const t = tripped;
  if (!t) return;
  if (!connected && !fs.existsSync(t.dataDir)) finish(`the data directory ${t.dataDir} is gone`);
  if (!fs.existsSync(path.join(t.dataDir, 'standby.signal'))) {
    const { postmasterPid, killed } = killPrimaryIn(t.dataDir, null);
    if (postmasterPid !== null) log('CRITICAL', `killed a postmaster (${postmasterPid}, ${killed.length} processes) that came up as a primary in ${t.dataDir} after the fence fired`);
  }
  if (t.untilNs !== null && now() >= t.untilNs) finish('fenced after the agent died');
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

/** setTimeout to the deadline, then re-check the clock: a timer may fire a little early or late. */
function schedule(): void {
  clearTimer();
  if (!armed) return;
  const leftMs = msUntil(armed.deadlineNs);
  if (leftMs <= 0) {
    fence();
    return;
  }
  timer = setTimeout(schedule, Math.max(1, Math.floor(leftMs)));
}

function finish(why: string): never {
  log('INFO', `exiting: ${why}`);
  if (config.pidFile) {
    try {
      if (fs.readFileSync(config.pidFile, 'utf8').trim() === String(process.pid)) fs.unlinkSync(config.pidFile);
    } catch {
      // not ours or gone
    }
  }
  process.exit(0);
}

function handle(msg: AgentToFence): void {
  switch (msg.type) {
    case 'arm': {
      untrip();
      armed = { deadlineNs: BigInt(msg.deadlineMonoNs), dataDir: msg.dataDir, postmasterPid: msg.postmasterPid, reason: msg.reason };
      schedule();
      break;
    }
    case 'disarm':
      untrip();
      if (armed) log('INFO', `disarmed: ${msg.reason}`);
      armed = null;
      clearTimer();
      break;
    case 'ping':
      break;
  }
  send({ type: 'ack', seq: msg.seq, state: state() });
}

function onAgentGone(): void {
  if (!connected) return;
  connected = false;
  if (armed) {
    log('WARNING', `the agent's pipe closed; still enforcing the deadline in ${Math.max(0, msUntil(armed.deadlineNs)).toFixed(0)} ms`);
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
      fs.writeFileSync(config.pidFile, `${process.pid}\n`);
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
  send({ type: 'ready', pid: process.pid, state: state() });
}

main();

/**
 * The agent's handle on its fence process (fence-process.ts): spawn it, send `arm` / `disarm` /
 * `ping` over its stdin, read acks and `fenced` events from its stdout, forward its log lines,
 * restart it when it died, and read/clear the record it leaves after a kill.
 *
 * The child is spawned `detached` (its own process group), so a signal meant for the agent's group
 * (Ctrl-C in a terminal) does not take the fence with it, and it outlives a kill -9 of the agent.
 */
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { postmasterPidFileOf, processState } from './data-dir-processes.js';
import { readFileNoFollow } from './fence-files.js';
import { holderMsToNs } from './holder-clock.js';
import type { LeaderRelease } from '../../dcs/types.js';
import type { AgentToFence, FencedRecord, FenceProcessConfig, FenceState, FenceToAgent } from './protocol.js';
import type { FenceSettings } from './settings.js';

export interface FenceLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface FenceClientOptions {
  settings: FenceSettings;
  logger: FenceLogger;
  /** Where the fence's own (already formatted) log lines go; default the agent's stderr. */
  forwardLine?: (line: string) => void;
  /** A kill happened (the agent learns it at once if it is awake). */
  onFenced?: (record: FencedRecord) => void;
  /** The fence process exited unexpectedly (the loop wakes up and restarts it). */
  onDied?: () => void;
  /** Command that runs the fence (default: this Node binary and the compiled fence-process.js next to this file). */
  entry?: { command: string; args: string[] };
  spawn?: (command: string, args: string[], options: SpawnOptions) => ChildProcess;
  /** Tests only: FenceProcessConfig.testClockJumpFile (a simulated suspend). */
  testClockJumpFile?: string;
  /** FenceProcessConfig.store: the store a release goes through, loaded by the fence while idle. */
  store?: 'raft' | 'etcd3';
  /** Tests only: FenceProcessConfig.testStallOnceMs (a fence starved of CPU). */
  testStallOnceMs?: number;
  readyTimeoutMs?: number;
  /** How long a disarm waits for the fence's answer (a stand-down needs it). */
  ackTimeoutMs?: number;
  /** How long the HA loop waits for the answer to an arm or a ping before it goes on (see ensureLive). */
  loopWaitMs?: number;
  /** A fence that answered nothing for this long, while running, is taken for hung and restarted. */
  hangAfterMs?: number;
}

/** A message's answer: the fence's state, and why it refused (a refused arm or conditional disarm). */
interface Answer {
  state: FenceState;
  refused: string | null;
}


/** The Node command for the fence: compiled JS when it exists, else the TypeScript source through tsx (tests). */
export function defaultFenceEntry(): { command: string; args: string[] } {
  const js = fileURLToPath(new URL('./fence-process.js', import.meta.url));
  if (fs.existsSync(js)) return { command: process.execPath, args: [js] };
  const ts = fileURLToPath(new URL('./fence-process.ts', import.meta.url));
  return { command: process.execPath, args: ['--import', 'tsx', ts] };
}

export class FenceClient {
  private child: ChildProcess | null = null;
  private childPid: number | null = null;
  private alive = false;
  private seq = 0;
  /** `fenced` events heard from the current fence process (protocol.ts, arm.fencedSeen). */
  private fencedSeen = 0;
  private readonly waiting = new Map<number, (answer: Answer | null) => void>();
  /** When the oldest message still without an answer was sent (Date.now()); null: all answered. */
  private unansweredSince: number | null = null;
  private lastSlowWarning = 0;
  private lastState: FenceState | null = null;
  /** The last arm sent, re-sent to a restarted fence. */
  private lastArm: Extract<AgentToFence, { type: 'arm' }> | null = null;
  private stopping = false;
  /** A fence left by a previous agent process; retired once ours holds a newer deadline. */
  private orphanPid: number | null = null;
  restarts = 0;
  lastFenced: FencedRecord | null = null;
  /** Why the last conditional disarm was refused (the fence saw PostgreSQL processes), if it was. */
  lastRefusal: string | null = null;

  constructor(private readonly options: FenceClientOptions) {}

  get settings(): FenceSettings {
    return this.options.settings;
  }

  get live(): boolean {
    return this.alive;
  }

  get pid(): number | null {
    return this.alive ? this.childPid : null;
  }

  /** The fence's state as its last answer gave it (null before the first). */
  get answeredState(): FenceState | null {
    return this.lastState;
  }

  get armed(): boolean {
    return this.lastArm !== null;
  }

  /** The armed deadline on the holder clock in ms (holder-clock.ts), or null. */
  get deadlineMonoMs(): number | null {
    if (!this.lastArm) return null;
    return Number(BigInt(this.lastArm.deadlineMonoNs)) / 1e6;
  }

  /** Spawns the fence and waits for its `ready`; throws when it does not come up. */
  async start(): Promise<void> {
    this.stopping = false;
    this.orphanPid = this.findOrphan();
    const { settings } = this.options;
    const config: FenceProcessConfig = {
      recordFile: settings.recordFile,
      logFile: settings.logFile,
      pidFile: settings.pidFile,
      trippedWatchMs: settings.trippedWatchMs,
      onAgentDeath: settings.onAgentDeath,
      testClockJumpFile: this.options.testClockJumpFile ?? null,
      store: this.options.store ?? null,
      ...(this.options.testStallOnceMs ? { testStallOnceMs: this.options.testStallOnceMs } : {}),
    };
    const entry = this.options.entry ?? defaultFenceEntry();
    const spawn = this.options.spawn ?? nodeSpawn;
    const child = spawn(entry.command, [...entry.args, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child = child;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the fence process did not report ready within ${this.options.readyTimeoutMs ?? 5000} ms`)), this.options.readyTimeoutMs ?? 5000);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`the fence process exited at start (${code ?? sig})`));
      });
      const lines = readline.createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        let msg: FenceToAgent;
        try {
          msg = JSON.parse(line) as FenceToAgent;
        } catch {
          // Not a protocol line (the protocol is one JSON object per line; its logs go to stderr): ignore it.
          return;
        }
        if (msg.type === 'ready') {
          clearTimeout(timer);
          this.childPid = msg.pid;
          this.alive = true;
          this.unansweredSince = null;
          this.lastState = msg.state;
          this.fencedSeen = msg.state.fencedCount;
          resolve();
          return;
        }
        this.onMessage(msg);
      });
    });
    const forward = this.options.forwardLine ?? ((l: string) => process.stderr.write(l + '\n'));
    readline.createInterface({ input: child.stderr! }).on('line', forward);
    child.stdin!.on('error', () => {});
    child.once('exit', (code, sig) => {
      const wasAlive = this.alive && this.child === child;
      if (this.child === child) {
        this.alive = false;
        this.child = null;
      }
      for (const [, done] of this.waiting) done(null);
      this.waiting.clear();
      this.unansweredSince = null;
      if (wasAlive && !this.stopping) {
        this.options.logger.error(`the fence process (pid ${child.pid}) exited unexpectedly (${code ?? sig})`);
        this.options.onDied?.();
      }
    });
    try {
      await ready;
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    // Not part of the agent's lifetime accounting: an idle fence must not keep a finished agent alive.
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stderr as unknown as { unref?: () => void }).unref?.();
    if (this.lastArm) {
      this.lastArm = { ...this.lastArm, seq: ++this.seq, fencedSeen: this.fencedSeen };
      void this.post(this.lastArm, this.loopWaitMs);
    }
  }

  private onMessage(msg: FenceToAgent): void {
    if (msg.type === 'ack') {
      this.lastState = msg.state;
      // The fence answers in order: an answer to the last message sent leaves nothing outstanding.
      this.unansweredSince = msg.seq >= this.seq ? null : Date.now();
      // Refused (the fence killed PostgreSQL before this arm arrived; protocol.ts, fencedSeen): nothing
      // is armed, also when the answer came after the loop stopped waiting for it.
      if (msg.refused && this.lastArm?.seq === msg.seq) this.lastArm = null;
      const done = this.waiting.get(msg.seq);
      this.waiting.delete(msg.seq);
      done?.({ state: msg.state, refused: msg.refused ?? null });
      return;
    }
    if (msg.type === 'fenced') {
      this.lastFenced = msg.record;
      this.fencedSeen += 1;
      this.lastArm = null;
      this.options.onFenced?.(msg.record);
    }
  }

  /** Sends `msg`; its answer, or null when none came within `waitMs` (a later answer still counts, see onMessage). */
  private post(msg: AgentToFence, waitMs: number): Promise<Answer | null> {
    const child = this.child;
    if (!child || !this.alive) return Promise.resolve(null);
    const answer = new Promise<Answer | null>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(msg.seq);
        resolve(null);
      }, waitMs);
      this.waiting.set(msg.seq, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
    });
    this.unansweredSince ??= Date.now();
    child.stdin!.write(JSON.stringify(msg) + '\n');
    return answer;
  }

  private get loopWaitMs(): number {
    return this.options.loopWaitMs ?? 500;
  }

  /**
   * Why a fence that did not answer in time is hung rather than slow, or null when it is just slow:
   * stopped (SIGSTOP, a debugger), gone, or silent for hangAfterMs. A slow one is kept: on a starved
   * host a new process would answer later still, and killing it would leave nothing armed meanwhile.
   */
  private hungReason(): string | null {
    const state = this.childPid === null ? null : processState(this.childPid);
    if (state === null || state === 'Z') return 'is gone';
    if (state === 'T' || state === 't') return 'is stopped';
    const silentMs = this.unansweredSince === null ? 0 : Date.now() - this.unansweredSince;
    const hangAfterMs = this.options.hangAfterMs ?? 5000;
    return silentMs >= hangAfterMs ? `has not answered for ${silentMs} ms` : null;
  }

  /**
   * Arms (or moves) the deadline: `deadlineMonoMs` on the holder clock (holder-clock.ts). Returns
   * the fence's ack (null: no answer in time — the loop restarts it next cycle). `release`: the key as
   * this renewal wrote it, for the fence to delete once the primary's death is certain (issue 17).
   */
  async arm(deadlineMonoMs: number, dataDir: string, reason: string, release: LeaderRelease | null = null): Promise<FenceState | null> {
    const msg: Extract<AgentToFence, { type: 'arm' }> = {
      type: 'arm',
      seq: ++this.seq,
      dataDir,
      postmasterPid: postmasterPidFileOf(dataDir),
      deadlineMonoNs: String(holderMsToNs(deadlineMonoMs)),
      reason,
      release,
      fencedSeen: this.fencedSeen,
    };
    this.lastArm = msg;
    // The loop waits a little only: the arm is in the pipe, and the fence applies it in order.
    const answer = await this.post(msg, this.loopWaitMs);
    this.lastRefusal = answer?.refused ?? null;
    if (answer && !answer.refused && this.orphanPid !== null) this.retireOrphan();
    return answer?.state ?? null;
  }

  /**
   * Stops enforcing. `ifStopped`: only if the fence sees nothing running in the data directory; a
   * refusal (or no answer) keeps the last arm, so a restarted fence is re-armed with it.
   */
  async disarm(reason: string, options: { ifStopped?: boolean } = {}): Promise<FenceState | null> {
    const kept = this.lastArm;
    if (!options.ifStopped) this.lastArm = null;
    const answer = await this.post({ type: 'disarm', seq: ++this.seq, reason, ifStopped: options.ifStopped === true }, this.options.ackTimeoutMs ?? 2000);
    this.lastRefusal = answer?.refused ?? null;
    if (options.ifStopped) this.lastArm = answer && !answer.state.armed && answer.refused === null ? null : kept;
    return answer?.state ?? null;
  }

  /**
   * True when the fence runs and answers; restarts it (re-sending the last arm) when it died or hangs.
   * The loop waits loopWaitMs for the ping's answer, not longer: a fence that is only slow (a starved
   * host) keeps running — waiting on it, or restarting it, would delay the very renewals whose
   * deadlines it enforces (seen: 2 s of waiting and a restart cost a promoting primary its lease).
   */
  async ensureLive(): Promise<boolean> {
    if (this.alive && this.child) {
      if ((await this.post({ type: 'ping', seq: ++this.seq }, this.loopWaitMs)) !== null) return true;
      const hung = this.hungReason();
      if (hung === null) {
        if (Date.now() - this.lastSlowWarning >= 10_000) {
          this.lastSlowWarning = Date.now();
          this.options.logger.warn(`the fence process (pid ${this.childPid}) is slow to answer (nothing for ${Date.now() - this.unansweredSince!} ms); keeping it`);
        }
        return true;
      }
      this.options.logger.error(`the fence process (pid ${this.childPid}) ${hung}; killing it`);
    }
    if (this.child) {
      this.child.kill('SIGKILL');
      this.alive = false;
      this.child = null;
    }
    try {
      await this.start();
      this.restarts += 1;
      this.options.logger.warn(`restarted the fence process (pid ${this.childPid})${this.lastArm ? ', re-armed with the last deadline' : ''}`);
      return true;
    } catch (err) {
      this.options.logger.error(`could not restart the fence process: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  }

  /** Disarms and lets the fence exit (clean agent shutdown). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    await this.disarm('agent shutdown');
    this.stopping = true;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    child.stdin!.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }

  /**
   * Closes the pipe without disarming (shutdown while PostgreSQL may still run as a primary): the
   * fence goes on enforcing the last deadline alone, then exits.
   */
  detach(): void {
    this.stopping = true;
    this.child?.stdin?.end();
    this.child = null;
    this.alive = false;
  }

  /** The record of the last kill in this data directory, if the agent has not acted on it yet. */
  readRecord(): FencedRecord | null {
    // Only a record root or our user wrote counts: a forged one would make a healthy primary step down.
    const file = readFileNoFollow(this.options.settings.recordFile, { trusted: true });
    if (file.text === null) {
      if (file.refused) this.options.logger.warn(`fence: ignoring the fence record: ${file.refused}`);
      return null;
    }
    try {
      return JSON.parse(file.text) as FencedRecord;
    } catch {
      this.options.logger.warn(`fence: ignoring the fence record ${this.options.settings.recordFile}: not JSON`);
      return null;
    }
  }

  clearRecord(): void {
    fs.rmSync(this.options.settings.recordFile, { force: true });
  }

  /**
   * A live fence process named in our pid file that is not ours (its agent died). It must be a fence
   * of THIS data directory (its configuration argument names our pid file): after a reboot the pid in a
   * stale pid file may belong to another member's fence on the same host, which is not ours to retire.
   */
  private findOrphan(): number | null {
    try {
      const pid = Number(readFileNoFollow(this.options.settings.pidFile, { trusted: true }).text?.trim());
      if (!Number.isInteger(pid) || pid <= 0 || pid === this.childPid) return null;
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmdline.includes('fence-process') && cmdline.includes(JSON.stringify(this.options.settings.pidFile)) ? pid : null;
    } catch {
      // No pid file or the process is gone: no leftover fence to adopt.
      return null;
    }
  }

  /** Our fence now enforces a newer deadline than the orphan's: SIGTERM ends an orphaned fence. */
  private retireOrphan(): void {
    const pid = this.orphanPid!;
    this.orphanPid = null;
    try {
      process.kill(pid, 'SIGTERM');
      this.options.logger.info(`retired the fence process ${pid} left by a previous agent (superseded by ${this.childPid})`);
    } catch {
      // already gone
    }
  }
}

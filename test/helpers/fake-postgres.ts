// A scripted LocalPostgres (src/agent/ha/local-postgres.ts) for executor and loop tests: a small
// model of one PostgreSQL instance (data directory, running or not, primary or standby, timeline,
// WAL position) that the executor's steps change as the real ones would, a log of every call, and
// hooks to make a step fail or wait. No processes, no files: a whole HA scenario runs in
// milliseconds against the memory store and a manual clock.
import type { DataDirectoryState, LocalPostgres, SyncReplicationState } from '../../src/agent/ha/local-postgres.js';
import type {
  AppliedSlotPlan,
  CloneSource,
  ControlData,
  CreateReplicaResult,
  NodeRole,
  PostmasterStatus,
  RewindResult,
  ServerState,
  StandbyTarget,
  StopMode,
} from '../../src/postgres/index.js';

export const FAKE_SYSID = '7301234567890123456';

/** The instance as the fake models it; tests read and set it directly to stage a scenario. */
export interface FakeInstance {
  dataDir: 'empty' | 'valid' | 'invalid';
  running: boolean;
  /** A postmaster.pid left by a process that is gone. */
  stalePid: boolean;
  /** Running but not answering SQL yet. */
  answering: boolean;
  standbySignal: boolean;
  /** backup_label: a copy not started yet (PostgreSQL renames it once recovery begins). */
  backupLabel: boolean;
  inRecovery: boolean;
  /** pg_controldata's cluster state (`in production` after an unclean stop of a primary). */
  clusterState: string;
  systemIdentifier: string;
  timeline: number;
  lsn: bigint;
  checkpointLsn: bigint | null;
  pid: number;
  upstream: StandbyTarget | null;
  ssn: string;
  slots: Set<string>;
  pendingRestart: string[];
  history: Map<number, string>;
}

type Method = keyof LocalPostgres;

export function fakeInstance(overrides: Partial<FakeInstance> = {}): FakeInstance {
  return {
    dataDir: 'empty',
    running: false,
    stalePid: false,
    answering: true,
    standbySignal: false,
    backupLabel: false,
    inRecovery: false,
    clusterState: 'shut down',
    systemIdentifier: FAKE_SYSID,
    timeline: 1,
    lsn: 0x3000000n,
    checkpointLsn: null,
    pid: 1000,
    upstream: null,
    ssn: '',
    slots: new Set(),
    pendingRestart: [],
    history: new Map(),
    ...overrides,
  };
}

/** A running primary on timeline `timeline`. */
export function runningPrimary(overrides: Partial<FakeInstance> = {}): FakeInstance {
  return fakeInstance({ dataDir: 'valid', running: true, clusterState: 'in production', ...overrides });
}

/** A running standby streaming from `upstream`. */
export function runningReplica(overrides: Partial<FakeInstance> = {}): FakeInstance {
  return fakeInstance({ dataDir: 'valid', running: true, standbySignal: true, inRecovery: true, clusterState: 'in archive recovery', ...overrides });
}

export class FakePostgres implements LocalPostgres {
  /** Every call, in order: the method name and a short argument summary. */
  readonly calls: string[] = [];
  /** What `divergence` answers (default: not diverged). */
  divergenceVerdict = { diverged: false, reason: 'no divergence' };
  /** A shutdown that never finishes (a stuck synchronous standby): a stop with a bound kills it, one without times out. */
  stopHangs = false;
  /** Where `slotPositions` says the slots stand (slot name → LSN); absent names have no position. */
  slotPositionsResult: Record<string, bigint> = {};
  /** What `rewind` answers (default: rewound). */
  rewindResult: RewindResult = { status: 'rewound', elapsedMs: 5, reason: 'rewound from the leader' };
  private readonly failures = new Map<Method, Error>();
  private readonly gates = new Map<Method, Promise<void>>();

  constructor(readonly instance: FakeInstance = fakeInstance()) {}

  /** The next call of `method` throws `error` (once). */
  failNext(method: Method, error: Error): void {
    this.failures.set(method, error);
  }

  /** Calls of `method` wait until the returned function is called (to catch an action in progress). */
  hold(method: Method): () => void {
    let release: () => void = () => {};
    this.gates.set(method, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      this.gates.delete(method);
      release();
    };
  }

  /** Names of the calls so far (without arguments). */
  get callNames(): string[] {
    return this.calls.map((c) => c.split(' ')[0]!);
  }

  private async step(method: Method, args = ''): Promise<void> {
    this.calls.push(args ? `${method} ${args}` : method);
    const gate = this.gates.get(method);
    if (gate) await gate;
    const failure = this.failures.get(method);
    if (failure) {
      this.failures.delete(method);
      throw failure;
    }
  }

  private requireRunning(what: string): void {
    if (!this.instance.running || !this.instance.answering) throw new Error(`${what}: PostgreSQL is not running`);
  }

  // ------------------------------------------------------------ observing

  async dataDirectory(): Promise<DataDirectoryState> {
    await this.step('dataDirectory');
    return { path: '/fake/data', kind: this.instance.dataDir, standbySignal: this.instance.standbySignal, backupLabel: this.instance.backupLabel };
  }

  async postmaster(): Promise<PostmasterStatus> {
    await this.step('postmaster');
    const i = this.instance;
    if (i.running) return { state: 'running', pid: i.pid };
    return i.stalePid ? { state: 'crashed', pid: i.pid } : { state: 'stopped', pid: null };
  }

  async controlData(): Promise<ControlData> {
    await this.step('controlData');
    const i = this.instance;
    if (i.dataDir !== 'valid') throw new Error('pg_controldata: could not open the control file');
    return {
      clusterState: i.clusterState,
      systemIdentifier: i.systemIdentifier,
      checkpointLsn: i.checkpointLsn,
      redoLsn: i.checkpointLsn,
      timeline: i.timeline,
      prevTimeline: i.timeline,
      minRecoveryEndLsn: null,
      minRecoveryEndTimeline: 0,
      walLevel: 'replica',
      walLogHints: true,
      dataChecksumVersion: 0,
      raw: {},
    };
  }

  async serverState(_timeoutMs: number): Promise<{ server: ServerState; pendingRestart: string[] }> {
    await this.step('serverState');
    this.requireRunning('connect');
    const i = this.instance;
    const server: ServerState = {
      inRecovery: i.inRecovery,
      timeline: i.timeline,
      currentLsn: i.inRecovery ? null : i.lsn,
      receivedLsn: i.inRecovery ? i.lsn : null,
      replayedLsn: i.inRecovery ? i.lsn : null,
      lsn: i.lsn,
      lastReplayAt: null,
      postmasterStartedAt: new Date(0),
      serverVersionNum: 150000,
      walReceiver: null,
      replication: [],
    };
    return { server, pendingRestart: [...i.pendingRestart] };
  }

  async timelineHistory(timeline: number): Promise<string | null> {
    await this.step('timelineHistory', String(timeline));
    return this.instance.history.get(timeline) ?? null;
  }

  // ------------------------------------------------------------ running it

  async configure(role: NodeRole) {
    await this.step('configure', role.role === 'primary' ? 'primary' : `replica of ${role.primary ? `${role.primary.host}:${role.primary.port}` : 'nobody'}`);
    this.instance.standbySignal = role.role === 'replica';
    this.instance.upstream = role.role === 'replica' ? role.primary : null;
    return { parameters: new Map<string, string>(), changed: [], restartRequired: [], removedFromAutoConf: [] };
  }

  async start(): Promise<void> {
    await this.step('start');
    const i = this.instance;
    if (i.dataDir !== 'valid') throw new Error('pg_ctl start: no data directory');
    if (i.running) return;
    i.running = true;
    i.stalePid = false;
    i.answering = true;
    i.pid += 1;
    i.backupLabel = false;
    i.inRecovery = i.standbySignal;
    i.clusterState = i.inRecovery ? 'in archive recovery' : 'in production';
  }

  async stop(mode: StopMode, boundMs?: number | null): Promise<{ killed: boolean }> {
    await this.step('stop', boundMs ? `${mode} within ${boundMs} ms` : mode);
    const i = this.instance;
    if (!i.running) return { killed: false };
    if (this.stopHangs) {
      if (!boundMs) throw new Error(`pg_ctl stop -m ${mode}: server does not shut down (timed out)`);
      i.running = false; // SIGKILL: unclean, the control file still says it runs
      return { killed: true };
    }
    i.running = false;
    if (mode === 'immediate') return { killed: false }; // unclean: the control file still says it runs
    i.checkpointLsn = i.lsn;
    i.clusterState = i.inRecovery ? 'shut down in recovery' : 'shut down';
    return { killed: false };
  }

  async checkpoint(): Promise<void> {
    await this.step('checkpoint');
    this.requireRunning('CHECKPOINT');
  }

  async reload(): Promise<void> {
    await this.step('reload');
  }

  async restart(startTimeoutMs: number | null): Promise<void> {
    await this.step('restart', startTimeoutMs === null ? '' : `start within ${startTimeoutMs} ms`);
    this.instance.pid += 1;
  }

  // ------------------------------------------------------------ changing its role

  async promote() {
    await this.step('promote');
    this.requireRunning('pg_ctl promote');
    const i = this.instance;
    if (!i.inRecovery) return { promoted: false, elapsedMs: 0, timeline: i.timeline };
    i.history.set(i.timeline + 1, `${i.timeline}\t0/${i.lsn.toString(16).toUpperCase()}\tno recovery target specified\n`);
    i.timeline += 1;
    i.inRecovery = false;
    i.standbySignal = false;
    i.upstream = null;
    i.clusterState = 'in production';
    return { promoted: true, elapsedMs: 3, timeline: i.timeline };
  }

  async checkpointAfterPromote(): Promise<void> {
    await this.step('checkpointAfterPromote');
  }

  async markDemoted(): Promise<void> {
    await this.step('markDemoted');
  }

  async markStandbyLeader(leader: boolean): Promise<void> {
    await this.step('markStandbyLeader', String(leader));
  }

  async follow(target: StandbyTarget | null) {
    await this.step('follow', target ? `${target.host}:${target.port}` : 'nobody');
    this.instance.upstream = target;
    return { how: 'reload' as const, elapsedMs: 1 };
  }

  // ------------------------------------------------------------ its data directory

  async bootstrap(): Promise<void> {
    await this.step('bootstrap');
    Object.assign(this.instance, { dataDir: 'valid', running: true, inRecovery: false, standbySignal: false, clusterState: 'in production', timeline: 1 });
  }

  async createReplica(options: { source: CloneSource | null; follow: StandbyTarget | null }): Promise<CreateReplicaResult> {
    await this.step('createReplica', options.source?.name ?? 'nobody');
    // As pg_basebackup leaves it: the primary's control file (`in production`) beside a backup_label.
    Object.assign(this.instance, { dataDir: 'valid', running: false, standbySignal: true, backupLabel: true, clusterState: 'in production', upstream: options.follow });
    return { method: 'basebackup', elapsedMs: 10, failures: [] };
  }

  async divergence(source: CloneSource, crashed: boolean) {
    await this.step('divergence', `${source.name ?? source.host}${crashed ? ' crashed' : ''}`);
    return this.divergenceVerdict;
  }

  async rewind(source: CloneSource, follow: StandbyTarget | null): Promise<RewindResult> {
    await this.step('rewind', source.name ?? source.host);
    if (this.rewindResult.status === 'rewound' || this.rewindResult.status === 'reinitialized') {
      Object.assign(this.instance, { running: true, standbySignal: true, inRecovery: true, clusterState: 'in archive recovery', upstream: follow });
    }
    return this.rewindResult;
  }

  async reinit(options: { source: CloneSource; follow?: StandbyTarget | null }): Promise<CreateReplicaResult> {
    await this.step('reinit', options.source.name ?? options.source.host);
    Object.assign(this.instance, { dataDir: 'valid', running: true, standbySignal: true, inRecovery: true, clusterState: 'in archive recovery', upstream: options.follow ?? null });
    return { method: 'basebackup', elapsedMs: 10, failures: [] };
  }

  // ------------------------------------------------------------ primary duties

  async syncSlots(input: { wanted: ReadonlyArray<{ name: string }>; owned: ReadonlySet<string> }): Promise<AppliedSlotPlan> {
    await this.step('syncSlots', input.wanted.map((w) => w.name).join(','));
    const results: AppliedSlotPlan['results'] = [];
    for (const slot of input.wanted) {
      if (this.instance.slots.has(slot.name)) continue;
      this.instance.slots.add(slot.name);
      results.push({ action: { kind: 'create', slot: { name: slot.name, type: 'physical', source: 'member' }, reason: 'member' } });
    }
    return { results, owned: new Set(input.wanted.map((w) => w.name)), positions: {}, copy: [] };
  }

  /** The positions of `slotPositionsResult` for the wanted slots (syncSlots publishes none); the call is recorded. */
  async slotPositions(wanted: ReadonlyArray<{ name: string }>): Promise<Record<string, bigint>> {
    await this.step('slotPositions', wanted.map((w) => w.name).join(','));
    return Object.fromEntries(wanted.flatMap((w) => (this.slotPositionsResult[w.name] === undefined ? [] : [[w.name, this.slotPositionsResult[w.name]!]])));
  }

  async copyLogicalSlots(source: { host: string; port: number }, slots: ReadonlyArray<{ name: string }>): Promise<{ copied: string[]; problems: string[] }> {
    await this.step('copyLogicalSlots', `${source.host}:${source.port} ${slots.map((s) => s.name).join(',')}`);
    for (const slot of slots) this.instance.slots.add(slot.name);
    return { copied: slots.map((s) => s.name), problems: [] };
  }

  async syncReplicationState(): Promise<SyncReplicationState> {
    await this.step('syncReplicationState');
    this.requireRunning('pg_stat_replication');
    return { connections: [], primaryLsn: this.instance.lsn, ssn: this.instance.ssn, managed: this.instance.ssn !== '' };
  }

  async setSynchronousStandbyNames(value: string): Promise<void> {
    await this.step('setSynchronousStandbyNames', value || "''");
    this.instance.ssn = value;
  }
}

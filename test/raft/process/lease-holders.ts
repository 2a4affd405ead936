// Lease holders as separate processes (lease-holder-child.ts) for the Jepsen-style run and the holder
// clock test: spawn, suspend (SIGSTOP for a while, and for a "monotonic" holder its clock stands still
// meanwhile, as CLOCK_MONOTONIC does during a system suspend), stop, and the history for the
// lock checker (test/helpers/lincheck.ts) on the common boot-time scale.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { holderNowMs } from '../../../src/agent/fence/holder-clock.js';
import type { LockOp } from '../../helpers/lincheck.js';
import type { ManagedProcess, ProcessRegistry } from '../../helpers/process.js';
import { sleep, withDeadline } from '../../helpers/wait.js';
import { REPO } from './cluster.js';
import type { HolderLine, HolderSpec } from './lease-holder-child.js';

const CHILD = path.join(REPO, 'test', 'raft', 'process', 'lease-holder-child.ts');

export class LeaseHolder {
  /** Suspensions as [from, to) on the boot-time scale. */
  readonly suspended: [number, number][] = [];
  private frozenTotal = 0;
  private readonly proc: ManagedProcess;

  constructor(
    registry: ProcessRegistry,
    readonly spec: HolderSpec,
  ) {
    this.proc = registry.spawn(`holder ${spec.id}`, process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(spec)], { cwd: REPO });
  }

  get id(): string {
    return this.spec.id;
  }

  get hasExited(): boolean {
    return this.proc.hasExited;
  }

  /**
   * Freezes the holder for `ms` (SIGSTOP … SIGCONT). Before it runs again, its frozen-time file is
   * updated, so a "monotonic" holder's clock has not counted the pause (a "holder" one ignores it).
   */
  async suspend(ms: number): Promise<void> {
    const from = holderNowMs();
    this.proc.signal('SIGSTOP');
    try {
      await sleep(ms);
    } finally {
      const to = holderNowMs();
      this.frozenTotal += to - from;
      this.suspended.push([from, to]);
      writeFileSync(this.spec.frozenFile, String(this.frozenTotal));
      this.proc.signal('SIGCONT');
    }
  }

  /** Asks it to stop after its operation in flight (bounded by its RPC timeout), SIGKILL past 15 s. */
  async stop(): Promise<void> {
    this.proc.signal('SIGCONT');
    this.proc.signal('SIGTERM');
    await withDeadline(this.proc.exited, 15_000, `holder ${this.id} to exit`).catch(() => this.proc.signal('SIGKILL'));
    await this.proc.exited;
  }

  /** The finished operations so far (its "LOCKOP" lines). */
  lines(): HolderLine[] {
    return this.proc
      .output()
      .split('\n')
      .filter((l) => l.startsWith('LOCKOP '))
      .map((l) => JSON.parse(l.slice('LOCKOP '.length)) as HolderLine);
  }

  /**
   * Its history for the lock checker. A belief deadline on the holder's own clock becomes the real
   * (boot-time) moment its clock reaches it: later by every suspension its clock did not count.
   */
  history(): LockOp[] {
    return this.lines().map((l) => {
      const op: LockOp = { clientId: this.id, kind: l.kind, key: this.spec.key, sentAt: l.sentAt, completedAt: l.completedAt, ok: l.ok };
      if (l.believedUntilOwn !== undefined) op.believedUntil = this.spec.clock === 'holder' ? l.believedUntilOwn : ownToReal(l.believedUntilOwn, this.suspended);
      return op;
    });
  }

  output(): string {
    return this.proc.output();
  }
}

/**
 * The real time at which a clock that stood still during `suspended` (and otherwise ran with real
 * time, 0 offset before the first suspension) shows `own`.
 */
export function ownToReal(own: number, suspended: [number, number][]): number {
  let frozen = 0;
  for (const [from, to] of suspended) {
    // The own clock reads (t − frozen) until `from`; it reaches `own` before this suspension?
    if (own + frozen <= from) break;
    frozen += to - from;
  }
  return own + frozen;
}

/**
 * The one restart a member may have scheduled (POST /restart with `schedule`), kept where Patroni
 * keeps it: in the member key's `scheduled_restart` field ({schedule, postmaster_start_time, and the
 * request's filters}), so `GET /cluster` and `list` show it on every agent. hactl deviation: an agent
 * started again reads it back from its own member key (restore()), which outlives the agent by ttl
 * seconds (an agent away longer finds no key, as under Patroni); Patroni 3 starts with none and the
 * next touch of the member key drops it, so a restart planned for tonight silently vanished when the
 * agent was restarted (e.g. for an upgrade) in between.
 *
 * As Patroni's evaluate_scheduled_restart: when the time comes and PostgreSQL was restarted since
 * the request (its postmaster start time changed), the restart is cancelled rather than repeated;
 * a schedule found more than 1.5 × loop_wait in the past when the agent starts is stale and dropped
 * (should_run_scheduled_action).
 */
import type { RestartRoleFilter, ScheduledRestart } from '../protocol/index.js';
import type { LineLogger } from '../logger.js';
import type { RestartRequest } from './api/index.js';
import { parseSchedule, postgresVersionToInt } from './api/units.js';

export interface ScheduledRestartDeps {
  logger: Pick<LineLogger, 'info' | 'warn'>;
  /** The running postmaster's start time (ISO 8601), null when PostgreSQL is down. */
  postmasterStartTime(): string | null;
  /** Restart now with the request's filters; answers the outcome text for the log. */
  restartNow(req: RestartRequest): Promise<string>;
  /** The member key changed: touch it soon (the loop's wakeup). */
  changed(): void;
  nowMs?: () => number;
}

export class ScheduledRestartSlot {
  private current: { request: RestartRequest; record: ScheduledRestart; timer: NodeJS.Timeout } | null = null;

  constructor(private readonly deps: ScheduledRestartDeps) {}

  /** What the member key and GET /patroni carry, or null. */
  get record(): ScheduledRestart | null {
    return this.current ? { ...this.current.record } : null;
  }

  /** False when one is already scheduled (Patroni: 409 `Another restart is already scheduled`). */
  schedule(req: RestartRequest): boolean {
    if (this.current || !req.schedule) return false;
    const record: ScheduledRestart = { schedule: req.schedule.text };
    const started = this.deps.postmasterStartTime();
    if (started) record.postmaster_start_time = started;
    if (req.restartPending !== null) record.restart_pending = req.restartPending;
    if (req.role) record.role = req.role;
    if (req.postgresVersion) record.postgres_version = req.postgresVersion;
    if (req.timeoutSeconds !== null) record.timeout = req.timeoutSeconds;
    this.arm(req, record, req.schedule.ms);
    return true;
  }

  /**
   * At start: the `scheduled_restart` field of our own member key, if any. Returns what was done,
   * for the log; a value that cannot be read is dropped with the reason (never a crash at start).
   */
  restore(value: unknown, loopWaitSeconds: number): string | null {
    if (value === undefined || value === null) return null;
    const parsed = readRecord(value);
    if (typeof parsed === 'string') return `dropped the scheduled restart found in the member key: ${parsed}`;
    const { request, record } = parsed;
    const now = this.nowMs();
    if (request.schedule!.ms < now - loopWaitSeconds * 1500) return `Found a stale restart value, cleaning up: ${record.schedule}`;
    this.arm(request, record, request.schedule!.ms);
    return `restart scheduled at ${record.schedule} restored from the member key`;
  }

  cancel(): boolean {
    if (!this.current) return false;
    clearTimeout(this.current.timer);
    this.current = null;
    this.deps.changed();
    return true;
  }

  dispose(): void {
    if (this.current) clearTimeout(this.current.timer);
    this.current = null;
  }

  private arm(request: RestartRequest, record: ScheduledRestart, atMs: number): void {
    const timer = setTimeout(() => void this.fire(), Math.max(0, atMs - this.nowMs()));
    timer.unref();
    this.current = { request, record, timer };
    this.deps.changed();
  }

  private async fire(): Promise<void> {
    const slot = this.current;
    if (!slot) return;
    this.current = null;
    this.deps.changed();
    const recent = this.deps.postmasterStartTime();
    const requested = slot.record.postmaster_start_time;
    if (recent && requested && Date.parse(recent) !== Date.parse(requested)) {
      this.deps.logger.info(`Cancelling scheduled restart: postgres restart has already happened at ${recent}`);
      return;
    }
    this.deps.logger.warn(`Manual scheduled restart at ${slot.record.schedule}`);
    const outcome = await this.deps.restartNow({ ...slot.request, schedule: null });
    this.deps.logger.info(`scheduled restart: ${outcome}`);
  }

  private nowMs(): number {
    return (this.deps.nowMs ?? Date.now)();
  }
}

const ROLES: readonly RestartRoleFilter[] = ['primary', 'standby_leader', 'replica'];

/** The stored record back into a request; a string says why it cannot be used. */
function readRecord(value: unknown): { request: RestartRequest; record: ScheduledRestart } | string {
  if (typeof value !== 'object' || Array.isArray(value) || value === null) return 'not an object';
  const v = value as Record<string, unknown>;
  // The stored schedule may be in the past by now: parse it against time 0.
  const parsed = parseSchedule(v.schedule, 'restart', 0);
  if (!parsed.ok) return `schedule ${JSON.stringify(v.schedule)}: ${parsed.text}`;
  const record: ScheduledRestart = { schedule: parsed.text };
  const request: RestartRequest = {
    restartPending: null,
    role: null,
    postgresVersion: null,
    postgresVersionNum: null,
    timeoutSeconds: null,
    schedule: { text: parsed.text, ms: parsed.ms },
  };
  if (typeof v.postmaster_start_time === 'string') record.postmaster_start_time = v.postmaster_start_time;
  if (typeof v.restart_pending === 'boolean') request.restartPending = record.restart_pending = v.restart_pending;
  if (ROLES.includes(v.role as RestartRoleFilter)) request.role = record.role = v.role as RestartRoleFilter;
  if (typeof v.postgres_version === 'string') {
    try {
      request.postgresVersionNum = postgresVersionToInt(v.postgres_version);
    } catch (err) {
      return `postgres_version: ${(err as Error).message}`;
    }
    request.postgresVersion = record.postgres_version = v.postgres_version;
  }
  if (typeof v.timeout === 'number' && v.timeout > 0) request.timeoutSeconds = record.timeout = v.timeout;
  return { request, record };
}

/**
 * `postgresql.callbacks` and the two synchronous hooks `pre_promote` / `before_stop`, run as the
 * PostgreSQL OS user with the clean environment (src/postgres/exec.ts), each command with whatever
 * it starts in a process group of its own.
 *
 * Callbacks (docs/patroni-behaviour.md 3.3; Patroni's callback_executor.py) never block the HA loop:
 * `call` returns at once. They run one at a time per member, in the order they were called, as
 * `<cmd> <action> <role> <scope>`. A callback still running when the next one is called is killed
 * with its whole process group (a VIP script must not move the address back after the role changed
 * again), and of several calls arriving meanwhile only the latest runs — both as Patroni does.
 * `on_reload` runs beside them in its own slot, where a newer on_reload kills the older one.
 *
 * `pre_promote` and `before_stop` are awaited by the step they guard (Patroni's cancellable.call):
 * the exit code is logged, and for pre_promote a non-zero one cancels the promotion.
 */
import { runShell, type PgContext } from '../postgres/index.js';
import type { LineLogger } from '../logger.js';
import { messageOf } from './error-text.js';

export type CallbackAction = 'on_start' | 'on_stop' | 'on_restart' | 'on_reload' | 'on_role_change';
/** The role argument; Patroni 3+ spells the primary `primary` (older releases wrote `master`). */
export type CallbackRole = 'primary' | 'replica' | 'demoted' | 'standby_leader';
export type HookScript = 'pre_promote' | 'before_stop';

export interface CallbackDeps {
  /** The current PostgreSQL context (a reload may replace it): the commands and the OS user. */
  ctx(): PgContext;
  logger: LineLogger;
}

interface Running {
  label: string;
  abort: AbortController;
  done: Promise<void>;
}

interface Queued {
  label: string;
  command: string;
  args: string[];
}

/** Lines of a callback's output the log keeps (a chatty script must not flood it). */
const OUTPUT_LINES = 20;

export class CallbackRunner {
  private current: Running | null = null;
  private next: Queued | null = null;
  private reloading: Running | null = null;

  constructor(private readonly deps: CallbackDeps) {}

  /** Starts `action`'s command for `role` (when one is configured) without waiting for it. */
  call(action: CallbackAction, role: CallbackRole): void {
    const ctx = this.deps.ctx();
    const command = ctx.options.callbacks?.[action];
    if (!command) return;
    const args = [action, role, ctx.options.scope ?? ''];
    const job: Queued = { label: `${action} ${role}`, command, args };
    if (action === 'on_reload') {
      if (this.reloading) this.kill(this.reloading, job.label);
      this.reloading = this.spawn(job, () => (this.reloading = null));
      return;
    }
    if (this.current) this.kill(this.current, job.label);
    this.next = job;
    this.pump();
  }

  /**
   * Runs pre_promote / before_stop to completion: whether one is configured, and its exit code
   * (null when it could not run or was killed: logged). `signal` kills it with its process group.
   */
  async script(kind: HookScript, signal?: AbortSignal): Promise<{ configured: boolean; code: number | null }> {
    const ctx = this.deps.ctx();
    const command = ctx.options[kind];
    if (!command) return { configured: false, code: null };
    try {
      const result = await runShell(ctx, command, [], { allowNonZeroExit: true, processGroup: true, signal, onStdoutLine: this.outputLine(kind), onStderrLine: this.outputLine(kind) });
      this.deps.logger.info(`${kind} script \`${command}\` exited with ${result.code}`);
      return { configured: true, code: result.code };
    } catch (err) {
      this.deps.logger.error(`Exception when calling \`${command}\`: ${messageOf(err)}`);
      return { configured: true, code: null };
    }
  }

  /** Resolves when no callback runs or waits (tests, and the agent's shutdown). */
  async idle(): Promise<void> {
    while (this.current || this.next || this.reloading) {
      await Promise.all([this.current?.done, this.reloading?.done]);
      if (!this.current && this.next) this.pump();
    }
  }

  private pump(): void {
    if (this.current || !this.next) return;
    const job = this.next;
    this.next = null;
    this.current = this.spawn(job, () => {
      this.current = null;
      this.pump();
    });
  }

  private kill(running: Running, by: string): void {
    this.deps.logger.warn(`killing callback ${running.label}, still running when ${by} was called`);
    running.abort.abort();
  }

  private spawn(job: Queued, finished: () => void): Running {
    const abort = new AbortController();
    const { logger } = this.deps;
    const done = runShell(this.deps.ctx(), job.command, job.args, {
      allowNonZeroExit: true,
      processGroup: true,
      signal: abort.signal,
      onStdoutLine: this.outputLine(job.label),
      onStderrLine: this.outputLine(job.label),
    }).then(
      (result) => {
        if (result.code !== 0) logger.warn(`callback \`${job.command}\` ${job.args.join(' ')} exited with ${result.code}`);
      },
      (err: unknown) => {
        // A killed callback was logged when it was killed; anything else (cannot spawn) is the operator's to see.
        if (!abort.signal.aborted) logger.error(`callback \`${job.command}\` ${job.args.join(' ')} failed: ${messageOf(err)}`);
      },
    );
    const running: Running = { label: job.label, abort, done: done.finally(finished) };
    return running;
  }

  private outputLine(label: string): (line: string) => void {
    let lines = 0;
    return (line) => {
      if (line.trim() === '' || ++lines > OUTPUT_LINES) return;
      this.deps.logger.info(`${label}: ${line}`);
    };
  }
}

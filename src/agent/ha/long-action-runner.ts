/**
 * The one background action the agent may run at a time (Patroni's AsyncExecutor): bootstrap,
 * clone, promote, rewind, … While it runs the HA loop keeps cycling (renewing the key, reporting
 * "<action> in progress") and may abort it (a demote must not wait for a clone).
 */
import type { LongActionName } from './types.js';

interface Running {
  name: LongActionName;
  startedMonoMs: number;
  controller: AbortController;
  done: Promise<void>;
}

export class LongActionRunner {
  private running: Running | null = null;

  constructor(
    private readonly monoNow: () => number,
    private readonly onError: (name: LongActionName, error: unknown) => void,
    /** Called when an action ends, `ok` false when it threw (the loop wakes up at once after a success). */
    private readonly onDone: (name: LongActionName, ok: boolean) => void,
  ) {}

  get current(): { name: LongActionName; startedMonoMs: number } | null {
    return this.running ? { name: this.running.name, startedMonoMs: this.running.startedMonoMs } : null;
  }

  /** Starts `fn` in the background; throws when another action runs (the decision never asks for two). */
  start(name: LongActionName, fn: (signal: AbortSignal) => Promise<void>): void {
    if (this.running) throw new Error(`cannot start ${name}: ${this.running.name} is in progress`);
    const controller = new AbortController();
    const entry: Running = { name, startedMonoMs: this.monoNow(), controller, done: Promise.resolve() };
    this.running = entry;
    entry.done = (async () => {
      let ok = true;
      try {
        await fn(controller.signal);
      } catch (err) {
        ok = false;
        if (!controller.signal.aborted) this.onError(name, err);
      } finally {
        if (this.running === entry) this.running = null;
        this.onDone(name, ok);
      }
    })();
  }

  /**
   * Aborts the action and waits up to `waitMs` for it to notice. After that it is forgotten either
   * way: an action that does not honour its signal finishes in the background and must check the
   * signal before each step that changes anything.
   */
  async abort(waitMs: number): Promise<LongActionName | null> {
    const entry = this.running;
    if (!entry) return null;
    entry.controller.abort();
    this.running = null;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([entry.done, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
    return entry.name;
  }

  /** Waits for the running action (shutdown), bounded. */
  async settle(waitMs: number): Promise<void> {
    const entry = this.running;
    if (!entry) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([entry.done, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }
}

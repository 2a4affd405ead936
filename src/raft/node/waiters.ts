/**
 * Promises waiting for something the Ready loop produces: a write applied under (clientId, seq),
 * a read index confirmed, the applied index reaching a value. Every wait is bounded by a timer and
 * every waiter can be failed at once (storage failure, stop).
 */

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | null;
}

export class WaiterMap<K, T> {
  private readonly waiting = new Map<K, Waiter<T>[]>();

  wait(key: K, timeoutMs: number, onTimeout: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const w: Waiter<T> = { resolve, reject, timer: null };
      w.timer = setTimeout(() => {
        this.remove(key, w);
        reject(onTimeout());
      }, Math.max(0, timeoutMs));
      const list = this.waiting.get(key);
      if (list) list.push(w);
      else this.waiting.set(key, [w]);
    });
  }

  has(key: K): boolean {
    return this.waiting.has(key);
  }

  resolve(key: K, value: T): boolean {
    const list = this.waiting.get(key);
    if (!list) return false;
    this.waiting.delete(key);
    for (const w of list) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve(value);
    }
    return true;
  }

  reject(key: K, err: Error): void {
    const list = this.waiting.get(key);
    if (!list) return;
    this.waiting.delete(key);
    for (const w of list) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(err);
    }
  }

  rejectAll(err: Error): void {
    for (const key of [...this.waiting.keys()]) this.reject(key, err);
  }

  get size(): number {
    return this.waiting.size;
  }

  private remove(key: K, w: Waiter<T>): void {
    const list = this.waiting.get(key);
    if (!list) return;
    const i = list.indexOf(w);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.waiting.delete(key);
  }
}

/** Waits for a monotonically growing number (the applied index) to reach a target. */
export class IndexWaiters {
  private readonly waiting: { target: number; resolve: () => void; reject: (err: Error) => void; timer: NodeJS.Timeout }[] = [];

  wait(current: number, target: number, timeoutMs: number, onTimeout: () => Error): Promise<void> {
    if (current >= target) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w = {
        target,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.waiting.indexOf(w);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(onTimeout());
        }, Math.max(0, timeoutMs)),
      };
      this.waiting.push(w);
    });
  }

  advanceTo(current: number): void {
    if (this.waiting.length === 0) return;
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const w = this.waiting[i];
      if (w.target <= current) {
        this.waiting.splice(i, 1);
        clearTimeout(w.timer);
        w.resolve();
      }
    }
  }

  rejectAll(err: Error): void {
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }
}

/** Exponential backoff delays for retrying a failed fsync or connection: 50 ms doubling to a cap. */
export function backoffMs(attempt: number, baseMs = 50, capMs = 5_000): number {
  return Math.min(capMs, baseMs * 2 ** Math.min(attempt, 16));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Patroni's timing rule: a leader that renews every loop_wait and may spend retry_timeout on a DCS
 * call must still renew before ttl runs out, so loop_wait + 2*retry_timeout <= ttl. Patroni adjusts
 * silently-ish at run time; we report it as an error from --validate-config and adjust with a warning
 * at run time, naming the values. Unlike Patroni (ttl >= 20), small values are allowed so tests and
 * fast-failover deployments can use ttl of a few seconds.
 */
export interface Timing {
  ttl: number;
  loop_wait: number;
  retry_timeout: number;
}

export function timingViolation(t: Timing): string | null {
  if (t.loop_wait + 2 * t.retry_timeout <= t.ttl) return null;
  return `violated the rule "loop_wait + 2*retry_timeout <= ttl": ${t.loop_wait} + 2*${t.retry_timeout} > ${t.ttl}`;
}

export function adjustTiming(t: Timing): { timing: Timing; warning: string | null } {
  const violation = timingViolation(t);
  if (!violation) return { timing: t, warning: null };
  const loopWait = t.ttl - 2 * t.retry_timeout;
  if (loopWait >= 1) {
    return { timing: { ...t, loop_wait: loopWait }, warning: `${violation}; using loop_wait=${loopWait}` };
  }
  const retry = Math.floor((t.ttl - 1) / 2);
  return {
    timing: { ...t, loop_wait: 1, retry_timeout: retry },
    warning: `${violation}; using loop_wait=1 and retry_timeout=${retry}`,
  };
}

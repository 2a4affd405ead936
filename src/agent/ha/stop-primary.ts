/**
 * Stopping PostgreSQL as a primary, written once for the three paths that do it: a demotion, the
 * switchover handover and the agent's shutdown.
 *
 * `graceful` (a planned handover, Patroni's default shutdown): CHECKPOINT first, so the shutdown
 * checkpoint is short, then a fast shutdown — walsenders send everything before they exit, so
 * streaming replicas have the shutdown checkpoint — and read that checkpoint's position, which the
 * leader key's release publishes so a replica may take over at once without a lag doubt.
 * `immediate`: stop at once without a checkpoint, bounded in time, when another member may take
 * over any moment; the position is unknown then.
 *
 * `boundMs` is Patroni's primary_stop_timeout (primaryStopBoundMs): with synchronous replication a
 * fast shutdown waits for a standby that may never confirm (its walsender holds the shutdown), so
 * each mode waits at most that long and a postmaster still there is killed with SIGKILL. That loses
 * no acknowledged commit — a commit is acknowledged only once a synchronous standby has it — which is
 * why Patroni allows it only in synchronous mode.
 */
import type { LocalPostgres } from './local-postgres.js';

export type PrimaryStopMode = 'graceful' | 'immediate';

export interface PrimaryStopResult {
  /** The shutdown checkpoint's LSN (graceful only, when pg_controldata could tell). */
  checkpointLsn: bigint | null;
  /** It outlived `boundMs` and was killed with SIGKILL. */
  killed: boolean;
}

/**
 * Throws when PostgreSQL does not stop (without `boundMs`: within pg_ctl_timeout per mode). `alongside`
 * runs once PostgreSQL is down, while the position is read (the switchover's fence stand-down: both are
 * write downtime, and neither needs the other).
 */
export async function stopPrimary(pg: LocalPostgres, mode: PrimaryStopMode, alongside: () => Promise<void> = async () => {}, boundMs: number | null = null): Promise<PrimaryStopResult> {
  if (mode === 'immediate') {
    const { killed } = await pg.stop('immediate', boundMs);
    await alongside();
    return { checkpointLsn: null, killed };
  }
  // Best effort: a server that does not answer still gets its own shutdown checkpoint from the fast stop.
  await pg.checkpoint().catch(() => undefined);
  const { killed } = await pg.stop('fast', boundMs);
  // A killed server wrote no shutdown checkpoint: the control file's last one is not where it stopped.
  const position = killed
    ? Promise.resolve(null)
    : pg.controlData().then(
        (control) => control.checkpointLsn,
        // Unknown position: the candidate still takes over; the lag check uses the last published status.
        () => null,
      );
  const [checkpointLsn] = await Promise.all([position, alongside()]);
  return { checkpointLsn, killed };
}

/** The WARNING when a primary outlived primary_stop_timeout and was killed. */
export function killedLine(boundMs: number | null | undefined): string {
  return `PostgreSQL did not stop within primary_stop_timeout (${(boundMs ?? 0) / 1000} s per mode): killed the postmaster and its children with SIGKILL`;
}

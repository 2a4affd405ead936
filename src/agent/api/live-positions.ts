/**
 * GET /patroni with a replica's WAL positions read now, as Patroni does (it queries PostgreSQL for each
 * request), not the ones of the agent's last cycle. Other members race on these figures: right after
 * a leader's shutdown checkpoint, a replica answering with its last cycle's position looked behind a
 * peer that had read its own live, so both thought themselves the healthiest and failover_priority
 * lost its meaning (Patroni's priority_failover feature: the lower-priority member took over in 2 of
 * 3 runs). One read serves the requests of LIVE_REUSE_MS; a read that fails or is slow leaves the
 * last cycle's figures.
 */
import type { ServerState } from '../../postgres/index.js';
import type { MemberStatus } from '../../protocol/index.js';

/** Requests within this window share one read (a race asks each member once; monitoring polls). */
const LIVE_REUSE_MS = 50;
/** A replica that does not answer this fast gets the last cycle's figures. */
const LIVE_TIMEOUT_MS = 1000;

export class LivePositions {
  private last: { atMs: number; read: Promise<ServerState | null> } | null = null;

  constructor(private readonly readServer: (timeoutMs: number) => Promise<ServerState>) {}

  /** `status` with its replica positions refreshed; unchanged for a primary or when the read fails. */
  async refresh(status: MemberStatus): Promise<MemberStatus> {
    const xlog = status.xlog;
    if (!xlog || !('received_location' in xlog)) return status;
    const server = await this.read();
    // Promoted since the last cycle (or not answering): the cycle's picture stays until the next one.
    if (!server || !server.inRecovery) return status;
    const num = (v: bigint | null) => (v === null ? null : Number(v));
    return {
      ...status,
      xlog: {
        ...xlog,
        received_location: num(server.receivedLsn) ?? xlog.received_location,
        replayed_location: num(server.replayedLsn) ?? xlog.replayed_location,
        replayed_timestamp: server.lastReplayAt ? server.lastReplayAt.toISOString() : xlog.replayed_timestamp,
      },
    };
  }

  private read(): Promise<ServerState | null> {
    const now = performance.now();
    if (this.last && now - this.last.atMs < LIVE_REUSE_MS) return this.last.read;
    const read = this.readServer(LIVE_TIMEOUT_MS).catch(() => null);
    this.last = { atMs: now, read };
    return read;
  }
}

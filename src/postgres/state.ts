// State of a running server, read with SQL: role, timeline, LSNs, WAL receiver, replication connections.
import type pg from 'pg';
import { withConnection } from './connection.js';
import { lsnDiffBytes, parseLsnOrNull } from './lsn.js';
import type { PgContext } from './types.js';

export interface WalReceiverStatus {
  /** streaming, starting, waiting, stopping, ... */
  status: string;
  receivedTimeline: number | null;
  /** Last WAL location flushed to disk by the receiver. */
  flushedLsn: bigint | null;
  senderHost: string | null;
  senderPort: number | null;
  slotName: string | null;
  lastMessageReceivedAt: Date | null;
}

export interface ReplicationConnection {
  pid: number;
  /** application_name: the member name for hactl replicas. */
  applicationName: string;
  username: string;
  clientAddr: string | null;
  /** startup, catchup, streaming, backup, stopping. */
  state: string;
  /** async, potential, sync, quorum. */
  syncState: string;
  sentLsn: bigint | null;
  writeLsn: bigint | null;
  flushLsn: bigint | null;
  replayLsn: bigint | null;
  /** Bytes the replica's replay is behind our current WAL position. */
  replayLagBytes: bigint | null;
  writeLagMs: number | null;
  flushLagMs: number | null;
  replayLagMs: number | null;
}

export interface ServerState {
  inRecovery: boolean;
  /** Current timeline: of the WAL being written (primary) or received/replayed (replica). */
  timeline: number;
  /** pg_current_wal_lsn() on a primary, null on a replica. */
  currentLsn: bigint | null;
  receivedLsn: bigint | null;
  replayedLsn: bigint | null;
  /** The position to compare between members: current on a primary, max(received, replayed) on a replica. */
  lsn: bigint;
  lastReplayAt: Date | null;
  postmasterStartedAt: Date;
  serverVersionNum: number;
  walReceiver: WalReceiverStatus | null;
  replication: ReplicationConnection[];
}

// The primary's timeline comes from its current WAL file name: pg_control_checkpoint() still shows the old
// timeline until the first checkpoint after a promotion (Patroni does the same).
const STATE_SQL = `
SELECT pg_catalog.pg_is_in_recovery() AS in_recovery,
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL ELSE pg_catalog.pg_current_wal_lsn()::text END AS current_lsn,
  pg_catalog.pg_last_wal_receive_lsn()::text AS received_lsn,
  pg_catalog.pg_last_wal_replay_lsn()::text AS replayed_lsn,
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN (pg_catalog.pg_control_checkpoint()).timeline_id
    ELSE ('x' || pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS timeline,
  pg_catalog.pg_last_xact_replay_timestamp() AS last_replay_at,
  pg_catalog.pg_postmaster_start_time() AS started_at,
  pg_catalog.current_setting('server_version_num')::int AS version_num`;

const WAL_RECEIVER_SQL = `
SELECT status, received_tli, flushed_lsn::text AS flushed_lsn, sender_host, sender_port, slot_name, last_msg_receipt_time
FROM pg_catalog.pg_stat_wal_receiver`;

const REPLICATION_SQL = `
SELECT pid, application_name, usename, client_addr::text AS client_addr, state, sync_state,
  sent_lsn::text AS sent_lsn, write_lsn::text AS write_lsn, flush_lsn::text AS flush_lsn, replay_lsn::text AS replay_lsn,
  EXTRACT(EPOCH FROM write_lag) * 1000 AS write_lag_ms, EXTRACT(EPOCH FROM flush_lag) * 1000 AS flush_lag_ms,
  EXTRACT(EPOCH FROM replay_lag) * 1000 AS replay_lag_ms
FROM pg_catalog.pg_stat_replication ORDER BY application_name, pid`;

const msOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Reads the whole state in three queries on one connection. */
export async function queryState(client: pg.Client): Promise<ServerState> {
  const row = (await client.query(STATE_SQL)).rows[0];
  const inRecovery = row.in_recovery as boolean;
  const currentLsn = parseLsnOrNull(row.current_lsn);
  const receivedLsn = parseLsnOrNull(row.received_lsn);
  const replayedLsn = parseLsnOrNull(row.replayed_lsn);
  const rx = (await client.query(WAL_RECEIVER_SQL)).rows[0];
  const walReceiver: WalReceiverStatus | null = rx
    ? {
        status: rx.status,
        receivedTimeline: rx.received_tli ?? null,
        flushedLsn: parseLsnOrNull(rx.flushed_lsn),
        senderHost: rx.sender_host ?? null,
        senderPort: rx.sender_port ?? null,
        slotName: rx.slot_name ?? null,
        lastMessageReceivedAt: rx.last_msg_receipt_time ?? null,
      }
    : null;
  const replication = (await client.query(REPLICATION_SQL)).rows.map((r): ReplicationConnection => {
    const replayLsn = parseLsnOrNull(r.replay_lsn);
    return {
      pid: r.pid,
      applicationName: r.application_name,
      username: r.usename,
      clientAddr: r.client_addr,
      state: r.state,
      syncState: r.sync_state,
      sentLsn: parseLsnOrNull(r.sent_lsn),
      writeLsn: parseLsnOrNull(r.write_lsn),
      flushLsn: parseLsnOrNull(r.flush_lsn),
      replayLsn,
      replayLagBytes: currentLsn !== null && replayLsn !== null ? lsnDiffBytes(currentLsn, replayLsn) : null,
      writeLagMs: msOrNull(r.write_lag_ms),
      flushLagMs: msOrNull(r.flush_lag_ms),
      replayLagMs: msOrNull(r.replay_lag_ms),
    };
  });
  const replicaLsn = [receivedLsn, replayedLsn].reduce<bigint>((max, v) => (v !== null && v > max ? v : max), 0n);
  let timeline = Number(row.timeline);
  if (inRecovery && walReceiver?.receivedTimeline && walReceiver.receivedTimeline > timeline) timeline = walReceiver.receivedTimeline;
  return {
    inRecovery,
    timeline,
    currentLsn,
    receivedLsn,
    replayedLsn,
    lsn: inRecovery ? replicaLsn : (currentLsn ?? 0n),
    lastReplayAt: row.last_replay_at ?? null,
    postmasterStartedAt: row.started_at,
    serverVersionNum: row.version_num,
    walReceiver,
    replication,
  };
}

/** queryState over a fresh local superuser connection. */
export async function readState(ctx: PgContext): Promise<ServerState> {
  return withConnection(ctx, queryState);
}

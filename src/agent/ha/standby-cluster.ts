/**
 * A standby cluster (Patroni's `standby_cluster` section, docs/standby_cluster.rst): the leader key
 * holder is a "standby leader" that replicates from a remote PostgreSQL (or restores WAL from an
 * archive) instead of running writable, and the other members cascade from it. decide treats the
 * remote as a pseudo-member named `remote_member(host:port)` (Patroni's RemoteMember), so following,
 * divergence checks and pg_rewind against it take the same paths as against a member.
 */
import type { DynamicConfig } from '../../config/index.js';

export interface StandbyCluster {
  /** The name decide gives the remote upstream; it changes whenever where or how we stream changes, so a config change re-points. */
  name: string;
  /** Null: archive only (restore_command), nothing to stream from or clone. */
  host: string | null;
  port: number;
  primarySlotName?: string;
  restoreCommand?: string;
  archiveCleanupCommand?: string;
  recoveryMinApplyDelay?: string;
  /** Replica methods for the standby leader's first copy (default: basebackup from host:port). */
  createReplicaMethods?: string[];
}

/** The standby cluster settings in force; null when the cluster is an ordinary one (Patroni: no host, port or restore_command). */
export function standbyClusterOf(dynamic: Pick<DynamicConfig, 'standby_cluster'>): StandbyCluster | null {
  const s = dynamic.standby_cluster;
  if (!s || !(s.host || s.port || s.restore_command)) return null;
  // libpq's defaults, as Patroni's RemoteMember leaves them: a missing host is the local socket, which
  // for a standby cluster makes no sense, so only an archive is used then.
  const host = s.host ?? null;
  const port = s.port ?? 5432;
  const out: StandbyCluster = {
    name: `remote_member(${host ?? 'archive'}:${port}${s.primary_slot_name ? `/${s.primary_slot_name}` : ''})`,
    host,
    port,
  };
  if (s.primary_slot_name) out.primarySlotName = s.primary_slot_name;
  if (s.restore_command) out.restoreCommand = s.restore_command;
  if (s.archive_cleanup_command) out.archiveCleanupCommand = s.archive_cleanup_command;
  if (s.recovery_min_apply_delay !== undefined) out.recoveryMinApplyDelay = String(s.recovery_min_apply_delay);
  if (s.create_replica_methods?.length) out.createReplicaMethods = s.create_replica_methods;
  return out;
}

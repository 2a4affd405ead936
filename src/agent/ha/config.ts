/**
 * The settings decide() reads, from the local config file and the cluster's dynamic config (the
 * `config` key, already validated with dynamicConfigSchema). Dynamic settings win for what Patroni
 * keeps in the DCS (timing, lag, pause, use_pg_rewind); local ones for name and tags.
 */
import { primaryStartTimeout, primaryStopTimeout, type DynamicConfig, type HactlConfig } from '../../config/index.js';
import { standbyClusterOf } from './standby-cluster.js';
import type { HaConfig } from './types.js';

/**
 * Patroni's primary_stop_timeout (or its older name master_stop_timeout) in ms: only with synchronous
 * replication and a value above 0 (stop-primary.ts says why); null = no bound beyond pg_ctl_timeout.
 */
export function primaryStopBoundMs(dynamic: DynamicConfig): number | null {
  const seconds = primaryStopTimeout(dynamic);
  return seconds > 0 && dynamic.synchronous_mode !== false ? seconds * 1000 : null;
}

/**
 * Whether a method of postgresql.create_replica_methods needs no leader (Patroni's
 * can_create_replica_without_replication_connection): its section's `no_leader` (or older `no_master`)
 * read with Python's bool(), the rule src/postgres/replica.ts applies when it runs the methods (the
 * pure core may not import the PostgreSQL layer).
 */
function canCloneWithoutLeader(local: HactlConfig): boolean {
  const sections = local.postgresql as Record<string, unknown>;
  return (local.postgresql.create_replica_methods ?? []).some((m) => {
    const section = m === 'basebackup' ? undefined : (sections[m] as { no_leader?: unknown; no_master?: unknown } | undefined);
    return Boolean(section?.no_leader) || Boolean(section?.no_master);
  });
}

/** Default upper bound for an immediate stop of PostgreSQL (see lease-loss.ts). */
export const DEFAULT_DEMOTE_TIME_MS = 2_000;

export function haConfigFrom(local: HactlConfig, dynamic: DynamicConfig, options: { demoteTimeMs?: number } = {}): HaConfig {
  return {
    name: local.name,
    tags: local.tags,
    ttlMs: dynamic.ttl * 1000,
    loopWaitMs: dynamic.loop_wait * 1000,
    retryTimeoutMs: dynamic.retry_timeout * 1000,
    maximumLagOnFailoverBytes: BigInt(dynamic.maximum_lag_on_failover),
    primaryStartTimeoutMs: primaryStartTimeout(dynamic) * 1000,
    primaryStopBoundMs: primaryStopBoundMs(dynamic),
    checkTimeline: dynamic.check_timeline,
    usePgRewind: dynamic.postgresql.use_pg_rewind ?? local.postgresql.use_pg_rewind ?? false,
    removeDataDirectoryOnRewindFailure: local.postgresql.remove_data_directory_on_rewind_failure,
    removeDataDirectoryOnDivergedTimelines: local.postgresql.remove_data_directory_on_diverged_timelines,
    pause: dynamic.pause,
    canBootstrap: local.bootstrap !== undefined,
    canCloneWithoutLeader: canCloneWithoutLeader(local),
    demoteTimeMs: options.demoteTimeMs ?? DEFAULT_DEMOTE_TIME_MS,
    synchronousMode: dynamic.synchronous_mode === 'quorum' ? 'quorum' : dynamic.synchronous_mode ? 'on' : 'off',
    standbyCluster: standbyClusterOf(dynamic),
    failsafeMode: dynamic.failsafe_mode,
    primaryRaceBackoffMs: (dynamic.primary_race_backoff ?? 0) * 1000,
  };
}

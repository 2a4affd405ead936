/**
 * The settings decide() reads, from the local config file and the cluster's dynamic config (the
 * `config` key, already validated with dynamicConfigSchema). Dynamic settings win for what Patroni
 * keeps in the DCS (timing, lag, pause, use_pg_rewind); local ones for name and tags.
 */
import type { DynamicConfig, HactlConfig } from '../../config/index.js';
import type { HaConfig } from './types.js';

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
    primaryStartTimeoutMs: dynamic.primary_start_timeout * 1000,
    checkTimeline: dynamic.check_timeline,
    usePgRewind: dynamic.postgresql.use_pg_rewind ?? local.postgresql.use_pg_rewind ?? false,
    removeDataDirectoryOnRewindFailure: local.postgresql.remove_data_directory_on_rewind_failure,
    removeDataDirectoryOnDivergedTimelines: local.postgresql.remove_data_directory_on_diverged_timelines,
    pause: dynamic.pause,
    canBootstrap: local.bootstrap !== undefined,
    demoteTimeMs: options.demoteTimeMs ?? DEFAULT_DEMOTE_TIME_MS,
    synchronousMode: dynamic.synchronous_mode === 'quorum' ? 'quorum' : dynamic.synchronous_mode ? 'on' : 'off',
  };
}

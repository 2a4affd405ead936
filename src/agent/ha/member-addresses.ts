/**
 * Where a member can be reached for PostgreSQL, from its member key's conn_url: the source of a
 * clone or rewind, and the target (with our slot) a standby streams from.
 */
import type { ClusterView, Member } from '../../dcs/index.js';
import { slotNameFromMemberName, type StandbyTarget } from '../../postgres/index.js';
import { addressOfConnUrl } from '../settings.js';
import type { StandbyCluster } from './standby-cluster.js';

/** Where to stream from when following `leaderName`; null when its member key has no usable conn_url. */
export function standbyTarget(view: ClusterView | null, leaderName: string | null, me: string, slots: boolean): StandbyTarget | null {
  if (leaderName === null || view === null) return null;
  const address = addressOfConnUrl(view.members.find((m) => m.name === leaderName)?.connUrl);
  if (!address) return null;
  const target: StandbyTarget = { host: address.host, port: address.port };
  if (slots) target.slotName = slotNameFromMemberName(me);
  return target;
}

export function memberAddress(view: ClusterView | null, name: string): { host: string; port: number; name: string } | null {
  const member: Member | undefined = view?.members.find((m) => m.name === name);
  const address = addressOfConnUrl(member?.connUrl);
  return address ? { ...address, name } : null;
}

/**
 * Where to stream from in a cluster that may be a standby cluster: the remote for the standby leader
 * (with the remote's slot and recovery settings), a member otherwise; every member of a standby
 * cluster also restores from the remote's archive when one is configured (Patroni does the same).
 */
export function upstreamTarget(view: ClusterView | null, leaderName: string | null, me: string, slots: boolean, remote: StandbyCluster | null): StandbyTarget | null {
  if (remote && leaderName === remote.name) {
    if (remote.host === null) return null;
    const target: StandbyTarget = { host: remote.host, port: remote.port };
    if (remote.primarySlotName) target.slotName = remote.primarySlotName;
    if (remote.restoreCommand) target.restoreCommand = remote.restoreCommand;
    if (remote.archiveCleanupCommand) target.archiveCleanupCommand = remote.archiveCleanupCommand;
    if (remote.recoveryMinApplyDelay) target.recoveryMinApplyDelay = remote.recoveryMinApplyDelay;
    return target;
  }
  const target = standbyTarget(view, leaderName, me, slots);
  if (target && remote?.restoreCommand) target.restoreCommand = remote.restoreCommand;
  if (target && remote?.archiveCleanupCommand) target.archiveCleanupCommand = remote.archiveCleanupCommand;
  return target;
}

/** A member's address, or the standby cluster's remote when `name` is the remote's (a clone, divergence check or rewind source). */
export function sourceAddress(view: ClusterView | null, name: string, remote: StandbyCluster | null): { host: string; port: number; name: string } | null {
  if (remote && name === remote.name) return remote.host === null ? null : { host: remote.host, port: remote.port, name };
  return memberAddress(view, name);
}

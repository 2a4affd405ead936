/**
 * Which members a restart, reload or reinit applies to (patronictl's get_members), as a pure
 * function: names given on the command line, a role filter, `--pending`; refusals in patronictl's
 * words. Plus the confirmation question and the result line for each member.
 */
import type { ClusterJson, ClusterMember } from '../client/index.js';
import { byName, isLeader } from './cluster-table.js';

/** patronictl's role names; `standby` is `replica`, `leader` covers a standby leader too. */
export const ROLE_FILTERS = ['leader', 'primary', 'standby-leader', 'replica', 'standby', 'any'] as const;
export type RoleFilter = (typeof ROLE_FILTERS)[number];

export function matchesRole(m: ClusterMember, role: RoleFilter): boolean {
  switch (role) {
    case 'leader':
      return isLeader(m);
    case 'primary':
      return m.role === 'leader';
    case 'standby-leader':
      return m.role === 'standby_leader';
    case 'replica':
    case 'standby':
      return !isLeader(m);
    case 'any':
      return true;
  }
}

export interface SelectInputs {
  cluster: ClusterJson;
  names: string[];
  role: RoleFilter;
  /** Only members with a pending restart. */
  pending?: boolean;
}

export type Selection = { members: ClusterMember[] } | { error: string };

export function selectMembers(inp: SelectInputs): Selection {
  const { cluster, names, role } = inp;
  const name = cluster.scope;
  if (cluster.members.length === 0) return { error: `${name} cluster doesn't have any members` };
  for (const n of names) {
    if (!cluster.members.some((m) => m.name === n)) return { error: `${n} is not a member of cluster ${name}` };
  }
  let members = cluster.members.filter((m) => (names.length === 0 || names.includes(m.name)) && matchesRole(m, role));
  if (members.length === 0) return { error: names.length > 0 ? `No '${role}' among provided members` : `${name} cluster doesn't have any ${role === 'any' ? '' : `'${role}' `}members` };
  if (inp.pending) {
    members = members.filter((m) => m.pending_restart === true);
    if (members.length === 0) return { error: 'No member has a pending restart' };
  }
  return { members: [...members].sort(byName) };
}

/** `Are you sure you want to restart members a, b?` and the scheduled variants. */
export function confirmMembersMessage(action: string, members: ClusterMember[], scheduledAt: string | null, pending = false): string {
  const list = members.map((m) => m.name).join(', ');
  if (scheduledAt === null) return `Are you sure you want to ${action} members ${list}?`;
  if (pending) {
    return 'The nodes needing a restart will be identified at the scheduled time, and might be different from the ones showing pending restart right now. Is this fine?';
  }
  return `Are you sure you want to schedule ${action} of members ${list} at ${scheduledAt}?`;
}

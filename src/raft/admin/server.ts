/**
 * Server side of the admin protocol (see protocol.ts): status and members are answered by the node
 * that receives them; add, remove, transfer and join go to the leader (forwarded when needed).
 * Requests arrive already checked (node/rpc.ts decodeRequest).
 */
import type { AdminRequest, AdminResponse, AdminStatus, MemberInfo, MembershipResult, TransferResult } from './protocol.js';

/** What a node offers the admin protocol; RaftNode implements it. */
export interface AdminTarget {
  status(): AdminStatus;
  members(): MemberInfo[];
  changeMembership(op: 'add' | 'remove', addr: string, timeoutMs: number, forwarded: boolean): Promise<MembershipResult>;
  join(addr: string, recovering: boolean, timeoutMs: number, forwarded: boolean): Promise<MembershipResult>;
  transferLeadership(to: string | null, timeoutMs: number | undefined, forwarded: boolean): Promise<TransferResult>;
}

const MEMBERSHIP_TIMEOUT_MS = 30_000;

export async function handleAdminRequest(node: AdminTarget, req: AdminRequest): Promise<AdminResponse> {
  switch (req.op) {
    case 'status':
      return { ok: true, status: node.status() };
    case 'members':
      return { ok: true, members: node.members() };
    case 'add':
    case 'remove':
      return { ok: true, result: await node.changeMembership(req.op, req.addr, req.timeoutMs ?? MEMBERSHIP_TIMEOUT_MS, req.forwarded === true) };
    case 'join':
      return { ok: true, result: await node.join(req.addr, req.recovering === true, req.timeoutMs ?? MEMBERSHIP_TIMEOUT_MS, req.forwarded === true) };
    case 'transfer':
      return { ok: true, result: await node.transferLeadership(req.addr ?? null, req.timeoutMs, req.forwarded === true) };
  }
}

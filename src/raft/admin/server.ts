/**
 * Server side of the admin protocol (see protocol.ts): status and members are answered by the node
 * that receives them; add, remove and transfer go to the leader (forwarded when needed).
 */
import type { RaftNode } from '../node.js';
import type { RpcPayload } from '../transport/types.js';
import { checkAddr } from '../node/options.js';
import { RaftRequestDenied } from '../node/errors.js';

export async function handleAdminRequest(node: RaftNode, req: RpcPayload): Promise<RpcPayload> {
  const timeoutMs = typeof req.timeoutMs === 'number' && req.timeoutMs > 0 ? Math.min(req.timeoutMs, 300_000) : undefined;
  const forwarded = req.forwarded === true;
  switch (req.op) {
    case 'status':
      return { ok: true, status: node.status() };
    case 'members':
      return { ok: true, members: node.members() };
    case 'add':
    case 'remove': {
      const addr = addrField(req.addr, req.op);
      return { ok: true, result: await node.changeMembership(req.op, addr, timeoutMs ?? 30_000, forwarded) };
    }
    case 'transfer': {
      const addr = req.addr === undefined || req.addr === null || req.addr === '' ? null : addrField(req.addr, 'transfer');
      return { ok: true, result: await node.transferLeadership(addr, timeoutMs, forwarded) };
    }
    default:
      throw new RaftRequestDenied(`unknown admin op ${JSON.stringify(req.op)} (expected status, members, add, remove or transfer)`);
  }
}

function addrField(v: unknown, op: string): string {
  if (typeof v !== 'string') throw new RaftRequestDenied(`${op}: addr must be "host:port"`);
  try {
    return checkAddr(v, `${op} address`);
  } catch (err) {
    throw new RaftRequestDenied((err as Error).message);
  }
}

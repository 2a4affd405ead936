/**
 * Membership changes and leadership transfer as a node serves them: add, remove, join (a member
 * asking about itself) and transfer, each done on the leader (forwarded there when needed) one
 * change at a time, with transient refusals retried until the caller's deadline.
 */
import type { MembershipResult, TransferResult } from '../admin/protocol.js';
import type { MembershipChange, MembershipChangeResult, RaftStatus, TransferResult as CoreTransferResult } from '../core/index.js';
import type { Membership } from '../core/types.js';
import { sleep } from './backoff.js';
import { RaftRequestDenied, RaftTimeout, RaftUnavailable } from './errors.js';
import { forwardToLeader, type LeaderView } from './forward.js';
import { membershipReply, RaftNotLeader, transferReply } from './rpc.js';

/** The part of a node membership operations need, besides its LeaderView. */
export interface MembershipHost {
  node: LeaderView;
  core: {
    proposeMembership(change: MembershipChange): MembershipChangeResult;
    transferLeadership(to: string): CoreTransferResult;
    status(): RaftStatus;
  };
  /** Run the Ready loop soon (after a proposal). */
  schedule(): void;
  /** Membership as applied to the state machine. */
  appliedMembership(): Membership;
  onMembershipChange(listener: (m: Membership) => void): () => void;
  /** Forget a removed member's connections. */
  forgetPeer(addr: string): void;
  readonly electionTimeoutMaxMs: number;
}

/** A refusal the leader lifts by itself soon (previous change not committed, first entry of the term). */
const TRANSIENT = /retry|not committed yet|in progress|catching up/;

function resultOf(message: string, m: Membership, configIndex?: number): MembershipResult {
  return configIndex === undefined ? { message, voters: m.voters, learners: m.learners } : { message, voters: m.voters, learners: m.learners, configIndex };
}

/** Proposes `change` until accepted, retrying transient refusals; false when the member is already there. */
async function propose(h: MembershipHost, change: MembershipChange, deadline: number, what: string): Promise<void> {
  for (;;) {
    const r = h.core.proposeMembership(change);
    h.schedule();
    if (r.ok) return;
    if (!TRANSIENT.test(r.reason)) throw new RaftRequestDenied(`${what}: ${r.reason}`);
    if (h.node.now() >= deadline) throw new RaftTimeout(`${what}: ${r.reason}`);
    if (!h.node.isLeader) throw new RaftNotLeader('leadership lost during the membership change', h.node.leader);
    await sleep(20);
  }
}

/** Waits until `done` holds for the applied membership (leader only). */
async function waitApplied(h: MembershipHost, done: (m: Membership) => boolean, deadline: number, late: string): Promise<void> {
  while (!done(h.appliedMembership())) {
    const left = deadline - h.node.now();
    if (left <= 0) throw new RaftTimeout(late);
    if (!h.node.isLeader) throw new RaftNotLeader('leadership lost during the membership change', h.node.leader);
    await new Promise<void>((resolve) => {
      const off = h.onMembershipChange(finish);
      const t = setTimeout(finish, Math.min(left, 100));
      function finish() {
        clearTimeout(t);
        off();
        resolve();
      }
    });
  }
}

async function addHere(h: MembershipHost, addr: string, deadline: number): Promise<MembershipResult> {
  const isVoter = (m: Membership) => m.voters.includes(addr);
  if (!isVoter(h.core.status().membership)) await propose(h, { type: 'addVoter', node: addr }, deadline, `add ${addr}`);
  // It catches up as a learner first; done once its promotion is applied here.
  await waitApplied(h, isVoter, deadline, `${addr} did not become a voter in time (is it running and reachable? it catches up as a learner first)`);
  return resultOf(`SUCCESS ADD ${addr}`, h.appliedMembership());
}

async function removeHere(h: MembershipHost, addr: string, deadline: number): Promise<MembershipResult> {
  const gone = (m: Membership) => !m.voters.includes(addr) && !m.learners.includes(addr);
  const m = h.core.status().membership;
  if (gone(m)) {
    if (gone(h.appliedMembership())) throw new RaftRequestDenied(`${addr} is not a member (members: ${[...m.voters, ...m.learners].join(', ')})`);
  } else if (addr === h.node.selfAddr) {
    throw new RaftRequestDenied(`${addr} is the leader: transfer leadership first (hactl raft transfer), then remove it through the new leader`);
  } else {
    await propose(h, { type: 'remove', node: addr }, deadline, `remove ${addr}`);
  }
  await waitApplied(h, gone, deadline, `removal of ${addr} not committed in time`);
  h.forgetPeer(addr);
  return resultOf(`SUCCESS REMOVE ${addr}`, h.appliedMembership());
}

/**
 * A member asks about itself. New (or a learner): added as a learner and promoted once caught up.
 * Recovering (its log was lost): a voter is demoted to learner first. Answers once the change is
 * proposed; the member watches its own log for the promotion.
 */
async function joinHere(h: MembershipHost, addr: string, recovering: boolean, deadline: number): Promise<MembershipResult> {
  const before = h.core.status();
  if (before.membership.voters.includes(addr) && !recovering) return resultOf(`SUCCESS JOIN ${addr} (already a voter)`, before.membership, before.membershipIndex);
  await propose(h, { type: recovering ? 'rejoin' : 'addVoter', node: addr }, deadline, `join ${addr}`);
  const after = h.core.status();
  return resultOf(`SUCCESS JOIN ${addr} (a learner until it has caught up)`, after.membership, after.membershipIndex);
}

export function changeMembership(h: MembershipHost, op: 'add' | 'remove', addr: string, timeoutMs: number, forwarded: boolean): Promise<MembershipResult> {
  const deadline = h.node.now() + timeoutMs;
  return forwardToLeader(h.node, {
    what: `${op} ${addr}`,
    deadline,
    forwarded,
    retry: false,
    here: () => (op === 'add' ? addHere(h, addr, deadline) : removeHere(h, addr, deadline)),
    request: (remaining) => ({ kind: 'admin', op, addr, timeoutMs: remaining, forwarded: true }),
    reply: membershipReply,
  });
}

export function join(h: MembershipHost, addr: string, recovering: boolean, timeoutMs: number, forwarded: boolean): Promise<MembershipResult> {
  const deadline = h.node.now() + timeoutMs;
  return forwardToLeader(h.node, {
    what: `join ${addr}`,
    deadline,
    forwarded,
    retry: false,
    here: () => joinHere(h, addr, recovering, deadline),
    request: (remaining) => ({ kind: 'admin', op: 'join', addr, recovering, timeoutMs: remaining, forwarded: true }),
    reply: membershipReply,
  });
}

/** The voter with the highest match index (ties: address order), excluding self. */
export function bestTransferTarget(core: Pick<MembershipHost['core'], 'status'>, self: string): string | null {
  const view = core.status();
  const candidates = Object.entries(view.peers)
    .filter(([id, p]) => id !== self && view.membership.voters.includes(id) && p.recentActive)
    .sort(([a, pa], [b, pb]) => pb.match - pa.match || (a < b ? -1 : 1));
  return candidates[0]?.[0] ?? view.membership.voters.find((v) => v !== self) ?? null;
}

async function transferHere(h: MembershipHost, to: string | null, deadline: number, limit: number): Promise<TransferResult> {
  const self = h.node.selfAddr;
  const target = to ?? bestTransferTarget(h.core, self);
  if (!target) throw new RaftRequestDenied('no other voter to transfer leadership to');
  if (target === self) return { message: `SUCCESS TRANSFER ${self}`, from: self, to: self, elapsedMs: 0 };
  const started = h.node.now();
  const became = h.node.waitForLeaderChange(self, deadline - h.node.now(), target);
  const r = h.core.transferLeadership(target);
  // On a refusal the waiter settles by its own timer; the refusal is the answer.
  if (!r.ok) throw new RaftRequestDenied(`transfer to ${target}: ${r.reason}`);
  h.schedule();
  const leader = await became;
  if (leader !== target) {
    throw new RaftUnavailable(leader ? `leadership went to ${leader} instead of ${target}` : `leadership transfer to ${target} did not complete within ${limit} ms`);
  }
  return { message: `SUCCESS TRANSFER ${target}`, from: self, to: target, elapsedMs: Math.round(h.node.now() - started) };
}

/** Hand leadership to `to` (default: the most up-to-date voter) and wait until it leads. */
export function transferLeadership(h: MembershipHost, to: string | null, timeoutMs: number | undefined, forwarded: boolean): Promise<TransferResult> {
  const limit = timeoutMs ?? Math.max(2_000, 2 * h.electionTimeoutMaxMs);
  const deadline = h.node.now() + limit;
  return forwardToLeader(h.node, {
    what: 'leadership transfer',
    deadline,
    forwarded,
    retry: false,
    here: () => transferHere(h, to, deadline, limit),
    request: (remaining) => (to ? { kind: 'admin', op: 'transfer', addr: to, timeoutMs: remaining, forwarded: true } : { kind: 'admin', op: 'transfer', timeoutMs: remaining, forwarded: true }),
    reply: transferReply,
    shortcut: (leader) => (to && to === leader ? { message: `SUCCESS TRANSFER ${to}`, from: leader, to, elapsedMs: 0 } : null),
  });
}

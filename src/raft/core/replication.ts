import { quorum } from './membership.js';
import type { Progress } from './progress.js';
import { confirmReads } from './reads.js';
import type { RaftState } from './state.js';
import type { AppendRequest, AppendResponse, NodeId, SnapshotResponse } from './types.js';

/**
 * Leader side of log replication. Appends are built lazily when a Ready is assembled
 * (broadcast), so many proposals made between two Readies travel in one Append per follower.
 */

function appendMsg(s: RaftState, to: NodeId, prev: number, prevTerm: number, entries: AppendRequest['entries']): AppendRequest {
  return {
    type: 'Append',
    from: s.id,
    to,
    term: s.term,
    prevLogIndex: prev,
    prevLogTerm: prevTerm,
    entries,
    commit: s.commit,
    readRound: s.readRound,
  };
}

/** One Append with entries from pr.next if flow control allows; false when nothing was sent. */
function sendEntries(s: RaftState, to: NodeId, pr: Progress): boolean {
  if (!pr.canSendEntries(s.cfg.maxInflightAppends)) return false;
  // A probe is sent even when empty: it is how we learn where the follower's log matches ours.
  if (pr.state === 'replicate' && pr.next > s.log.lastIndex) return false;
  const prev = pr.next - 1;
  const prevTerm = s.log.term(prev);
  if (prevTerm === undefined) {
    startSnapshot(s, to, pr);
    return false;
  }
  let last = Math.min(s.log.lastIndex, pr.next + s.cfg.maxEntriesPerAppend - 1);
  const maxBytes = s.cfg.maxAppendBytes;
  if (maxBytes !== undefined) {
    // Keep every Append within the transport's frame limit (one entry always goes).
    let bytes = 0;
    for (let i = pr.next; i <= last; i++) {
      bytes += s.log.entry(i)!.data.byteLength + 32;
      if (bytes > maxBytes && i > pr.next) {
        last = i - 1;
        break;
      }
    }
  }
  s.send(appendMsg(s, to, prev, prevTerm, s.log.slice(pr.next, last + 1)));
  pr.sentCommit = s.commit;
  if (pr.state === 'replicate') {
    // Optimistic: assume it arrives and keep pipelining; a rejection falls back to probing.
    pr.next = last + 1;
    pr.inflight.push(last);
  } else {
    pr.probeSent = true;
  }
  return true;
}

function sendEmptyAppend(s: RaftState, to: NodeId, pr: Progress, prev: number): void {
  const prevTerm = s.log.term(prev);
  if (prevTerm === undefined) return;
  s.send(appendMsg(s, to, prev, prevTerm, []));
  pr.sentCommit = s.commit;
}

/** Send whatever this follower is missing, within its flow-control window. */
export function replicateTo(s: RaftState, to: NodeId, pr: Progress): void {
  let sent = false;
  while (sendEntries(s, to, pr)) {
    sent = true;
    if (pr.state !== 'replicate') break;
  }
  if (!sent && pr.state === 'replicate' && pr.sentCommit < s.commit) sendEmptyAppend(s, to, pr, pr.next - 1);
}

export function broadcast(s: RaftState): void {
  s.needBroadcast = false;
  for (const [to, pr] of s.progress) replicateTo(s, to, pr);
}

/**
 * Heartbeats double as loss detectors: in replicate state the heartbeat claims the optimistic
 * position (next - 1), so a follower that lost an Append rejects it and we fall back to probing
 * instead of waiting forever on a full pipeline. Probes and snapshot chunks are simply resent.
 */
export function heartbeat(s: RaftState): void {
  for (const [to, pr] of s.progress) {
    if (pr.state === 'replicate' && s.log.term(pr.next - 1) === undefined) {
      // We compacted past what the follower is known to have: only a snapshot can help it now.
      pr.becomeProbe();
      sendEntries(s, to, pr);
    } else if (pr.state === 'replicate') {
      sendEmptyAppend(s, to, pr, pr.next - 1);
    } else if (pr.state === 'probe') {
      pr.probeSent = false;
      sendEntries(s, to, pr);
    } else {
      sendSnapshotChunk(s, to, pr);
      // Still carry the ReadIndex round; its answer is ignored for replication in this state.
      sendEmptyAppend(s, to, pr, pr.match);
    }
  }
  s.needReadHeartbeat = false;
}

export function handleAppendResponse(s: RaftState, msg: AppendResponse): void {
  const pr = s.progress.get(msg.from);
  if (!pr) return;
  pr.recentActive = true;
  if (msg.readRound > pr.readRound) {
    pr.readRound = msg.readRound;
    confirmReads(s);
  }
  if (!msg.success) {
    if (pr.state === 'snapshot') return;
    // The hint is the follower's guess of where our logs may match (its last index, or just
    // before the conflicting term): jump there instead of stepping back one entry per round trip.
    const hint = Math.min(msg.matchIndex, s.log.lastIndex);
    if (pr.state === 'replicate') {
      pr.becomeProbe();
    } else if (hint + 1 >= pr.next) {
      return; // a stale rejection of a probe we already moved past
    }
    pr.next = Math.max(pr.match + 1, hint + 1);
    pr.probeSent = false;
    replicateTo(s, msg.from, pr);
    return;
  }
  const moved = pr.acknowledge(msg.matchIndex);
  if (pr.state === 'probe') pr.becomeReplicate();
  else if (pr.state === 'snapshot' && pr.match >= s.log.snapshotIndex) pr.becomeReplicate();
  if (moved) {
    maybeCommit(s);
    s.hooks.afterFollowerProgress(s, msg.from, pr);
  }
  if (s.role === 'leader') replicateTo(s, msg.from, pr);
}

function startSnapshot(s: RaftState, to: NodeId, pr: Progress): void {
  if (!s.snapshot) return;
  pr.becomeSnapshot(s.snapshot.meta.index);
  sendSnapshotChunk(s, to, pr);
}

/** One chunk at the offset the follower expects; its answer asks for the next (resumable). */
function sendSnapshotChunk(s: RaftState, to: NodeId, pr: Progress): void {
  const snap = s.snapshot;
  if (!snap) return;
  // We compacted again since the transfer started: send the newer snapshot from the start.
  if (snap.meta.index !== pr.snapshotIndex) pr.becomeSnapshot(snap.meta.index);
  const offset = Math.min(pr.snapshotOffset, snap.data.length);
  const end = Math.min(offset + s.cfg.snapshotChunkBytes, snap.data.length);
  s.send({
    type: 'Snapshot',
    from: s.id,
    to,
    term: s.term,
    meta: snap.meta,
    offset,
    chunk: snap.data.subarray(offset, end),
    done: end >= snap.data.length,
  });
}

export function handleSnapshotResponse(s: RaftState, msg: SnapshotResponse): void {
  const pr = s.progress.get(msg.from);
  if (!pr) return;
  pr.recentActive = true;
  if (msg.installedIndex > 0) {
    const moved = pr.acknowledge(msg.installedIndex);
    if (pr.state === 'snapshot') pr.becomeProbe();
    if (moved) {
      maybeCommit(s);
      s.hooks.afterFollowerProgress(s, msg.from, pr);
    }
    if (s.role === 'leader') replicateTo(s, msg.from, pr);
    return;
  }
  if (pr.state !== 'snapshot') return;
  pr.snapshotOffset = msg.nextOffset < 0 ? 0 : msg.nextOffset;
  sendSnapshotChunk(s, msg.from, pr);
}

/**
 * Advance commit to the highest index a quorum of voters holds, counting our own log only as far
 * as it is durable, and only for an entry of the current term (Figure 8: older entries commit
 * indirectly).
 */
export function maybeCommit(s: RaftState): void {
  if (s.role !== 'leader') return;
  const m = s.membership();
  const matches = m.voters.map((v) => (v === s.id ? s.stableIndex : (s.progress.get(v)?.match ?? 0)));
  matches.sort((a, b) => b - a);
  const q = matches[quorum(m) - 1] ?? 0;
  if (q > s.commit && s.log.term(q) === s.term) {
    s.commitTo(q);
    s.needBroadcast = true;
    s.hooks.afterCommit(s);
  }
}

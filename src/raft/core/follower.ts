import type { RaftState } from './state.js';
import type { AppendRequest, AppendResponse, Snapshot, SnapshotChunk, SnapshotResponse } from './types.js';

/**
 * Follower side of replication. Responses are queued like any message, so the node sends them only
 * after the Ready carrying the appended entries (or installed snapshot) has been made durable.
 */
export function handleAppend(s: RaftState, msg: AppendRequest): void {
  let prev = msg.prevLogIndex;
  let prevTerm = msg.prevLogTerm;
  let entries = msg.entries;
  if (prev < s.commit) {
    // Everything up to our commit index matches any current leader's log: skip that part.
    const skip = s.commit - prev;
    entries = skip >= entries.length ? [] : entries.slice(skip);
    prev = s.commit;
    prevTerm = s.log.term(prev) as number;
  }
  const localPrevTerm = s.log.term(prev);
  if (localPrevTerm !== prevTerm) {
    reply(s, msg, false, rejectHint(s, prev, localPrevTerm));
    return;
  }
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const have = s.log.term(e.index);
    if (have === e.term) continue;
    if (have !== undefined) s.truncateAfter(e.index - 1);
    for (let j = i; j < entries.length; j++) s.appendEntry(entries[j]!);
    break;
  }
  const lastNew = prev + entries.length;
  // Commit only what this message proved to match: entries beyond lastNew may be stale.
  if (msg.commit > s.commit) s.commitTo(Math.min(msg.commit, lastNew));
  reply(s, msg, true, lastNew);
}

/**
 * Where the leader should probe next: our last index when we are short, else just before the first
 * entry of the conflicting term (skipping the whole term in one round trip), never below commit.
 */
function rejectHint(s: RaftState, prev: number, localPrevTerm: number | undefined): number {
  if (localPrevTerm === undefined) return s.log.lastIndex;
  const first = s.log.firstIndexWithTermAtLeast(localPrevTerm, s.commit + 1, prev);
  return Math.max(s.commit, first - 1);
}

function reply(s: RaftState, msg: AppendRequest, success: boolean, matchIndex: number): void {
  const resp: AppendResponse = {
    type: 'AppendResp',
    from: s.id,
    to: msg.from,
    term: s.term,
    success,
    matchIndex,
    readRound: msg.readRound,
  };
  s.send(resp);
}

export function handleSnapshot(s: RaftState, msg: SnapshotChunk): void {
  const meta = msg.meta;
  if (meta.index <= s.commit) {
    // Already have it (or more): tell the leader where we really are.
    s.incomingSnapshot = null;
    snapshotReply(s, msg, 0, s.commit);
    return;
  }
  if (msg.offset === 0) s.incomingSnapshot = { meta, chunks: [], received: 0 };
  const inc = s.incomingSnapshot;
  const same = inc !== null && inc.meta.index === meta.index && inc.meta.term === meta.term;
  if (!same || msg.offset !== inc.received) {
    snapshotReply(s, msg, same ? inc.received : -1, 0);
    return;
  }
  inc.chunks.push(msg.chunk);
  inc.received += msg.chunk.length;
  if (!msg.done) {
    snapshotReply(s, msg, inc.received, 0);
    return;
  }
  s.incomingSnapshot = null;
  restore(s, { meta, data: concat(inc.chunks, inc.received) });
  snapshotReply(s, msg, 0, meta.index);
}

function restore(s: RaftState, snap: Snapshot): void {
  const { index, term } = snap.meta;
  if (s.log.term(index) === term) {
    // Our log already holds that point: keep the entries after it, just commit up to it.
    s.commitTo(index);
    return;
  }
  s.log.reset(index, term);
  s.configs.reset(index, snap.meta.membership);
  s.commit = index;
  s.stableIndex = index;
  s.unstableFrom = index + 1;
  s.snapshot = snap;
  s.pendingSnapshot = snap;
}

function snapshotReply(s: RaftState, msg: SnapshotChunk, nextOffset: number, installedIndex: number): void {
  const resp: SnapshotResponse = { type: 'SnapshotResp', from: s.id, to: msg.from, term: s.term, nextOffset, installedIndex };
  s.send(resp);
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!.slice();
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

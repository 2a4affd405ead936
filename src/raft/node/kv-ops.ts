/**
 * Writes and linearizable reads as a node serves them: on the leader a write is proposed and
 * answered once applied, a read waits for a ReadIndex round and for the state machine to reach
 * it; elsewhere both go to the leader (node/forward.ts).
 */
import { encodeCommand } from '../kv/command.js';
import type { KvCommand, KvEntry, KvResult } from '../kv/types.js';
import type { ApplyStage } from './apply-stage.js';
import { RaftStorageError, RaftTimeout } from './errors.js';
import { forwardToLeader, type LeaderView } from './forward.js';
import type { ReadQuery } from './requests.js';
import { RaftNotLeader, readReply, writeReply } from './rpc.js';
import { writeKey, type StateMachine } from './state-machine.js';

export interface KvHost {
  node: LeaderView;
  core: { propose(data: Uint8Array): { index: number; term: number } | null; readIndex(requestId: string): void };
  schedule(): void;
  stage: ApplyStage;
  sm: StateMachine;
  /** Why this node cannot persist, or null. */
  storageError: string | null;
  /** A fresh id for a ReadIndex request. */
  readId(): string;
}

export function describeCommand(c: KvCommand): string {
  return c.op === 'deletePrefix' ? `prefix ${c.prefix}` : `key ${c.key}`;
}

function proposeAndWait(h: KvHost, clientId: string, seq: number, command: KvCommand, timeoutMs: number): Promise<KvResult> {
  const key = writeKey(clientId, seq);
  const done = h.stage.writes.wait(key, timeoutMs, () => new RaftTimeout(`write to ${describeCommand(command)} not applied within ${Math.round(timeoutMs)} ms`));
  if (h.core.propose(encodeCommand({ clientId, seq, command })) === null) {
    h.stage.writes.reject(key, new RaftNotLeader('leadership lost before the write was proposed', h.node.leader));
  }
  h.schedule();
  return done;
}

export function submitWrite(h: KvHost, clientId: string, seq: number, command: KvCommand, deadline: number, forwarded: boolean): Promise<KvResult> {
  return forwardToLeader(h.node, {
    what: `write to ${describeCommand(command)}`,
    timeoutNote: '; it may or may not have been applied',
    deadline,
    forwarded,
    retry: true,
    here: (remaining) => {
      if (h.storageError !== null) throw new RaftStorageError(`raft node ${h.node.selfAddr} cannot persist its log (${h.storageError}); write not accepted`);
      return proposeAndWait(h, clientId, seq, command, remaining);
    },
    request: (remaining) => ({ kind: 'kv', op: 'write', clientId, seq, command, timeoutMs: remaining, forwarded: true }),
    reply: writeReply,
  });
}

export function readLocal(sm: StateMachine, query: ReadQuery): KvEntry | null | KvEntry[] {
  return 'key' in query ? sm.kv.get(query.key) : sm.kv.list(query.prefix);
}

/** Leader: wait until a quorum confirmed leadership (ReadIndex) and the state machine caught up. */
async function readBarrier(h: KvHost, timeoutMs: number): Promise<void> {
  const id = h.readId();
  const indexReady = h.stage.reads.wait(id, timeoutMs, () => new RaftTimeout(`leadership not confirmed within ${Math.round(timeoutMs)} ms`));
  h.core.readIndex(id);
  h.schedule();
  const index = await indexReady;
  await h.stage.applied.wait(h.sm.appliedIndex, index, timeoutMs, () => new RaftTimeout(`state machine did not reach read index ${index} in time`));
}

export function submitRead(h: KvHost, query: ReadQuery, deadline: number, forwarded: boolean): Promise<KvEntry | null | KvEntry[]> {
  return forwardToLeader(h.node, {
    what: 'linearizable read',
    deadline,
    forwarded,
    retry: true,
    here: async (remaining) => {
      await readBarrier(h, remaining);
      return readLocal(h.sm, query);
    },
    request: (remaining) => ({ kind: 'kv', op: 'read', ...query, linearizable: true, timeoutMs: remaining, forwarded: true }),
    reply: readReply,
  });
}

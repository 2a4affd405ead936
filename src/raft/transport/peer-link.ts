/**
 * The outgoing connection to one peer: a bounded queue of encoded Raft messages, connected on first
 * use, flushed once per event-loop turn in a single write, and reconnected with jittered
 * exponential backoff. When the peer is down the oldest messages are dropped: Raft resends what
 * matters (heartbeats, appends from nextIndex), and an unbounded queue would only grow memory and
 * deliver stale traffic later.
 *
 * A link is also redialled when it has carried messages to the peer for `silenceMs` (plus time for
 * the bytes, for a snapshot) and not one message came back from that peer (the transport calls
 * `heard()` on each one, whichever connection it came by). Every Raft message but TimeoutNow gets an
 * answer, and a leader's heartbeats are answered every heartbeat. Without this, a connection whose
 * packets were dropped (a partition by firewall, a cable pulled) stays "connected" after the network
 * is back until TCP next retransmits, and TCP's backoff doubles up to minutes: a follower cut off
 * for 15 s heard its leader again only 10 s after the heal (test/raft/process/heal.test.ts).
 * pysyncobj drops a connection silent for 3.5 s; a fresh connect goes through at once.
 */
import type { NodeId } from '../core/types.js';
import type { Logger } from '../kv/types.js';
import type { Channel } from './channel.js';
import { RaftAuthFailed } from './errors.js';
import { FrameKind, frameKindName } from './frame.js';
import { dial } from './handshake.js';

const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 1000;
/** Stop handing frames to the socket beyond this; the queue (and its bound) takes over. */
const SOCKET_HIGH_WATER_BYTES = 4 * 1024 * 1024;
/** Extra silence allowed per byte sent since the peer last answered: 1 MiB/s, for a snapshot chunk on a slow link. */
const ALLOWED_BYTES_PER_MS = 1024 * 1024 / 1000;

export interface PeerLinkOptions {
  peer: NodeId;
  selfAddr: NodeId;
  password: string | null;
  /** Least key-derivation cost accepted from the peer (tests of the transport lower it). */
  minKdfLog2N?: number;
  maxFrameBytes: number;
  connectTimeoutMs: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  /** Redial a connection that has carried messages this long with none back from the peer. */
  silenceMs: number;
  logger: Logger;
  random: () => number;
  /** Monotonic milliseconds (performance.now). */
  now: () => number;
}

type LinkState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'closed';

export interface PeerLinkStatus {
  connected: boolean;
  queuedMessages: number;
  /** Messages dropped since the link was created because the queue was full. */
  droppedMessages: number;
}

export class PeerLink {
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private dropped = 0;
  private droppedThisOutage = 0;
  private state: LinkState = 'idle';
  private channel: Channel | null = null;
  private attempts = 0;
  private lastFailure: string | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private flushScheduled = false;
  private waitingForDrain = false;
  /** When the first message the peer has not answered yet was queued on this connection (null: none). */
  private unansweredSinceMs: number | null = null;
  private unansweredBytes = 0;
  private readonly abort = new AbortController();

  constructor(private readonly opts: PeerLinkOptions) {}

  status(): PeerLinkStatus {
    return { connected: this.state === 'connected', queuedMessages: this.queue.length, droppedMessages: this.dropped };
  }

  /** A message came from the peer: it is alive and our messages reach it. */
  heard(): void {
    this.unansweredSinceMs = null;
    this.unansweredBytes = 0;
  }

  enqueue(payload: Buffer): void {
    if (this.state === 'closed') return;
    if (this.state === 'connected') {
      const now = this.opts.now();
      this.unansweredSinceMs ??= now;
      this.unansweredBytes += payload.length;
      const silentMs = now - this.unansweredSinceMs;
      if (silentMs > this.opts.silenceMs + this.unansweredBytes / ALLOWED_BYTES_PER_MS) {
        // onClose below logs it and redials; this message waits in the queue for the new connection.
        this.channel?.close(`nothing back from it for ${Math.round(silentMs)} ms while sending (a stalled connection): reconnecting`);
      }
    }
    this.queue.push(payload);
    this.queuedBytes += payload.length;
    while (this.queue.length > 1 && (this.queue.length > this.opts.maxQueuedMessages || this.queuedBytes > this.opts.maxQueuedBytes)) {
      this.queuedBytes -= this.queue.shift()!.length;
      this.dropped++;
      if (this.droppedThisOutage++ === 0) {
        this.opts.logger.warn(`raft peer ${this.opts.peer} is not taking messages: dropping the oldest queued ones (Raft resends)`);
      }
    }
    if (this.state === 'idle') void this.connect();
    else if (this.state === 'connected') this.scheduleFlush();
  }

  close(): void {
    this.state = 'closed';
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.abort.abort();
    this.channel?.close('peer link closed');
    this.channel = null;
    this.queue = [];
    this.queuedBytes = 0;
  }

  private async connect(): Promise<void> {
    this.state = 'connecting';
    let channel: Channel;
    try {
      channel = await dial(this.opts.peer, {
        role: 'peer',
        nodeId: this.opts.selfAddr,
        password: this.opts.password,
        minKdfLog2N: this.opts.minKdfLog2N,
        timeoutMs: this.opts.connectTimeoutMs,
        maxFrameBytes: this.opts.maxFrameBytes,
        signal: this.abort.signal,
        // Peers never send on our outgoing link: replies come on their own link to us.
        onFrame: (kind) => {
          throw new Error(`unexpected ${frameKindName(kind)} frame on an outgoing peer link`);
        },
      });
    } catch (err) {
      this.failed(err as Error);
      return;
    }
    // close() may have run while we were dialling.
    if ((this.state as LinkState) === 'closed') {
      channel.close('peer link closed');
      return;
    }
    const log = this.lastFailure !== null ? this.opts.logger.info : this.opts.logger.debug;
    const dropped = this.droppedThisOutage > 0 ? ` (${this.droppedThisOutage} queued messages were dropped meanwhile)` : '';
    log.call(this.opts.logger, `connected to raft peer ${this.opts.peer}${dropped}`);
    this.channel = channel;
    this.state = 'connected';
    // The silence of this connection counts from now, for what it carries from now on.
    this.unansweredSinceMs = this.queue.length > 0 ? this.opts.now() : null;
    this.unansweredBytes = this.queuedBytes;
    this.attempts = 0;
    this.lastFailure = null;
    this.droppedThisOutage = 0;
    channel.onClose((info) => {
      if (this.channel !== channel) return;
      this.channel = null;
      this.waitingForDrain = false;
      if (this.state === 'closed') return;
      this.opts.logger.info(`lost connection to raft peer ${this.opts.peer}: ${info.reason}`);
      this.lastFailure = info.reason;
      this.retryLater();
    });
    this.scheduleFlush();
  }

  private failed(err: Error): void {
    if ((this.state as LinkState) === 'closed') return;
    // One warning per distinct failure, not one per retry every second.
    if (err.message !== this.lastFailure) {
      const log = err instanceof RaftAuthFailed ? this.opts.logger.error : this.opts.logger.warn;
      log.call(this.opts.logger, `${err.message} (retrying with backoff)`);
    } else {
      this.opts.logger.debug(`${err.message} (attempt ${this.attempts + 1})`);
    }
    this.lastFailure = err.message;
    this.attempts++;
    this.retryLater();
  }

  private retryLater(): void {
    this.state = 'backoff';
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempts);
    // Jitter: nodes that lost a peer together do not all knock on its door at the same instant.
    const delayMs = ceiling / 2 + (this.opts.random() * ceiling) / 2;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.state !== 'backoff') return;
      if (this.queue.length > 0) void this.connect();
      else this.state = 'idle';
    }, delayMs);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Collect everything the node sends in this event-loop turn into one write.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const channel = this.channel;
    if (this.state !== 'connected' || channel === null || this.queue.length === 0) return;
    if (channel.writeBacklogBytes >= SOCKET_HIGH_WATER_BYTES) {
      if (!this.waitingForDrain) {
        this.waitingForDrain = true;
        channel.socket.once('drain', () => {
          this.waitingForDrain = false;
          this.scheduleFlush();
        });
      }
      return;
    }
    let take = 0;
    let bytes = 0;
    while (take < this.queue.length && bytes < SOCKET_HIGH_WATER_BYTES) bytes += this.queue[take++]!.length;
    const batch = take === this.queue.length ? this.queue : this.queue.slice(0, take);
    this.queue = take === this.queue.length ? [] : this.queue.slice(take);
    this.queuedBytes -= bytes;
    channel.sendMany(FrameKind.RaftMessage, batch);
    if (this.queue.length > 0) this.scheduleFlush();
  }
}

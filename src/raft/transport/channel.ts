/**
 * One framed connection on the Raft port, either direction: decodes frames, seals/opens them once
 * the handshake installed session keys, and turns every malformed input into a close with a
 * reason. Nothing thrown while handling a frame escapes into the socket's event emitter.
 *
 * After the handshake, frames sent in one event-loop turn leave in one socket write on the next
 * process.nextTick: after the promise continuations that sent them, before any further I/O
 * (setImmediate would wait for the next poll phase, which measurably delayed responses). On an encrypted connection two or more are
 * sealed as one Batch frame (frame.ts): one cipher setup and one syscall instead of one of each.
 */
import type { Socket } from 'node:net';
import { describeSocketError } from './address.js';
import type { SessionCiphers } from './auth.js';
import { BATCH_ENTRY_HEADER_BYTES, decodeBatch, encodeBatch, FrameDecoder, FrameError, FrameKind, frameHeader, frameKindName, PROTOCOL_VERSION, type Frame } from './frame.js';

/** Until the peer has authenticated, frames are handshake-sized: nobody unauthenticated can make us buffer megabytes. */
export const HANDSHAKE_MAX_FRAME_BYTES = 4096;
/** A batch is closed at this plaintext size: big frames gain nothing from sharing a seal. */
const BATCH_MAX_BYTES = 256 * 1024;

export interface CloseInfo {
  reason: string;
  /** The peer broke the protocol (malformed, oversize, truncated, failed integrity): worth a warning. */
  violation: boolean;
}

export class Channel {
  private readonly decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES);
  private ciphers: SessionCiphers | null = null;
  private closeInfo: CloseInfo | null = null;
  /** Set by established(): from then on frames wait in the outbox for the end of the turn. */
  private batching = false;
  private maxBatchBytes = BATCH_MAX_BYTES;
  private outbox: Frame[] = [];
  private flushScheduled = false;
  /** Why reading is paused (requests in flight, answers not yet written out); empty = reading. */
  private readonly pauses = new Set<string>();
  /** Decoded frames not yet handed to onFrame (reading was paused); inner batch frames are already opened. */
  private pending: (Frame & { opened?: boolean; kept?: boolean })[] = [];
  /** Receives every frame, already decrypted. May throw: the channel closes with the error as reason. */
  onFrame: (kind: FrameKind, payload: Buffer) => void = () => {};
  private closeListeners: ((info: CloseInfo) => void)[] = [];

  constructor(
    readonly socket: Socket,
    readonly remote: string,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.finish({ reason: describeSocketError(err), violation: false }));
    socket.on('close', () => {
      const pending = this.decoder.pendingBytes;
      if (pending > 0) {
        const expected = this.decoder.expectedBytes;
        const of = expected > 0 ? ` of ${expected}` : '';
        this.finish({ reason: `connection closed mid-frame (got ${pending}${of} bytes)`, violation: true });
      } else {
        this.finish({ reason: 'connection closed by peer', violation: false });
      }
    });
  }

  get closed(): boolean {
    return this.closeInfo !== null;
  }

  get encrypted(): boolean {
    return this.ciphers !== null;
  }

  /** Called once; fires immediately when already closed. */
  onClose(listener: (info: CloseInfo) => void): void {
    if (this.closeInfo) listener(this.closeInfo);
    else this.closeListeners.push(listener);
  }

  /** Switch to the authenticated phase: encrypted frames (when ciphers) and the full frame size. */
  established(ciphers: SessionCiphers | null, maxFrameBytes: number): void {
    this.ciphers = ciphers;
    this.batching = true;
    this.maxBatchBytes = Math.min(BATCH_MAX_BYTES, maxFrameBytes);
    // Sealing adds a counter and a tag to each payload.
    this.decoder.maxFrameBytes = ciphers ? maxFrameBytes + 24 : maxFrameBytes;
  }

  /** Queues a frame for the end of this event-loop turn (handshake frames go at once). */
  send(kind: FrameKind, payload: Buffer): void {
    if (this.closeInfo) return;
    if (!this.batching) {
      this.write([{ kind, payload }]);
      return;
    }
    this.outbox.push({ kind, payload });
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(() => this.flush());
  }

  /** Writes these frames now, after anything queued: for callers that already batch per turn. */
  sendMany(kind: FrameKind, payloads: readonly Buffer[]): void {
    if (this.closeInfo) return;
    const frames = this.outbox;
    this.outbox = [];
    for (const payload of payloads) frames.push({ kind, payload });
    this.write(frames);
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closeInfo || this.outbox.length === 0) return;
    const frames = this.outbox;
    this.outbox = [];
    this.write(frames);
  }

  /** One socket write for all frames: sealed as Batch frames when encrypted, else side by side. */
  private write(frames: readonly Frame[]): void {
    const parts: Buffer[] = [];
    let total = 0;
    const put = (kind: FrameKind, plain: Buffer): void => {
      const payload = this.ciphers ? this.ciphers.outgoing.seal(PROTOCOL_VERSION, kind, plain) : plain;
      const header = frameHeader(kind, payload.length);
      parts.push(header, payload);
      total += header.length + payload.length;
    };
    if (this.ciphers === null) {
      for (const f of frames) put(f.kind, f.payload);
    } else {
      for (let i = 0; i < frames.length; ) {
        let j = i + 1;
        let bytes = BATCH_ENTRY_HEADER_BYTES + frames[i]!.payload.length;
        while (j < frames.length && bytes + BATCH_ENTRY_HEADER_BYTES + frames[j]!.payload.length <= this.maxBatchBytes) {
          bytes += BATCH_ENTRY_HEADER_BYTES + frames[j++]!.payload.length;
        }
        if (j - i === 1) put(frames[i]!.kind, frames[i]!.payload);
        else put(FrameKind.Batch, encodeBatch(frames.slice(i, j)));
        i = j;
      }
    }
    this.socket.write(Buffer.concat(parts, total));
  }

  /** Bytes accepted by write() that the kernel has not taken yet. */
  get writeBacklogBytes(): number {
    return this.socket.writableLength;
  }

  /** Bytes waiting to leave: frames queued for the end of this turn plus the socket's backlog. */
  get outgoingBytes(): number {
    let queued = 0;
    for (const f of this.outbox) queued += f.payload.length;
    return queued + this.socket.writableLength;
  }

  /** Stop reading from the peer (TCP pushes back on it) until every reason given is resumed. */
  pauseReading(reason: string): void {
    if (this.closeInfo || this.pauses.has(reason)) return;
    if (this.pauses.size === 0) this.socket.pause();
    this.pauses.add(reason);
  }

  resumeReading(reason: string): void {
    if (!this.pauses.delete(reason) || this.pauses.size > 0 || this.closeInfo) return;
    this.dispatch();
    if (this.pauses.size === 0) this.socket.resume();
  }

  get readingPaused(): boolean {
    return this.pauses.size > 0;
  }

  close(reason: string, violation = false): void {
    this.finish({ reason, violation });
  }

  /** Close after what was already written reaches the peer (e.g. an AuthFail telling it why). */
  closeAfterFlush(reason: string, violation = false): void {
    if (this.closeInfo) return;
    this.flush();
    this.finish({ reason, violation }, false);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private receive(chunk: Buffer): void {
    if (this.closeInfo) return;
    try {
      for (const frame of this.decoder.push(chunk)) this.pending.push(frame);
    } catch (err) {
      this.close(err instanceof Error ? err.message : String(err), true);
      return;
    }
    this.dispatch();
  }

  /**
   * Hands decoded frames to onFrame until reading is paused: one socket read can hold many
   * frames, and a pause must take effect between them, not after the whole read.
   */
  private dispatch(): void {
    try {
      while (this.pending.length > 0 && this.pauses.size === 0 && !this.closeInfo) {
        const frame = this.pending.shift()!;
        const payload = this.ciphers && !frame.opened ? this.ciphers.incoming.open(PROTOCOL_VERSION, frame.kind, frame.payload) : frame.payload;
        if (frame.kind !== FrameKind.Batch) {
          this.onFrame(frame.kind, payload);
          continue;
        }
        // Only a sealed batch is authentic; a plaintext one could smuggle frames past the handshake.
        if (this.ciphers === null) throw new FrameError('batch frame on a connection that is not encrypted');
        // Its frames are queued ahead of the rest, so a pause also applies inside a batch.
        this.pending.unshift(...decodeBatch(payload).map((f) => ({ kind: f.kind, payload: f.payload, opened: true })));
      }
    } catch (err) {
      this.close(err instanceof Error ? err.message : String(err), true);
      return;
    }
    // Frames left for later may be views into memory of this read: keep copies.
    for (const f of this.pending) {
      if (f.kept) continue;
      f.payload = Buffer.from(f.payload);
      f.kept = true;
    }
  }

  private finish(info: CloseInfo, destroy = true): void {
    if (this.closeInfo) return;
    this.closeInfo = info;
    if (destroy) this.socket.destroy();
    const listeners = this.closeListeners;
    this.closeListeners = [];
    for (const l of listeners) l(info);
  }
}

export function unexpectedFrame(kind: FrameKind, phase: string): Error {
  return new Error(`unexpected ${frameKindName(kind)} frame ${phase}`);
}

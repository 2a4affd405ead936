/**
 * One framed connection on the Raft port, either direction: decodes frames, seals/opens them once
 * the handshake installed session keys, and turns every malformed input into a close with a
 * reason. Nothing thrown while handling a frame escapes into the socket's event emitter.
 */
import type { Socket } from 'node:net';
import { describeSocketError } from './address.js';
import type { SessionCiphers } from './auth.js';
import { FrameDecoder, FrameKind, frameHeader, frameKindName, PROTOCOL_VERSION } from './frame.js';

/** Until the peer has authenticated, frames are handshake-sized: nobody unauthenticated can make us buffer megabytes. */
export const HANDSHAKE_MAX_FRAME_BYTES = 4096;

export interface CloseInfo {
  reason: string;
  /** The peer broke the protocol (malformed, oversize, truncated, failed integrity): worth a warning. */
  violation: boolean;
}

export class Channel {
  private readonly decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES);
  private ciphers: SessionCiphers | null = null;
  private closeInfo: CloseInfo | null = null;
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
    // Sealing adds a counter and a tag to each payload.
    this.decoder.maxFrameBytes = ciphers ? maxFrameBytes + 24 : maxFrameBytes;
  }

  send(kind: FrameKind, payload: Buffer): void {
    this.sendMany(kind, [payload]);
  }

  /** One socket write for the whole batch: many small Raft messages cost one syscall. */
  sendMany(kind: FrameKind, payloads: readonly Buffer[]): void {
    if (this.closeInfo) return;
    const parts: Buffer[] = [];
    let total = 0;
    for (const plain of payloads) {
      const payload = this.ciphers ? this.ciphers.outgoing.seal(PROTOCOL_VERSION, kind, plain) : plain;
      const header = frameHeader(kind, payload.length);
      parts.push(header, payload);
      total += header.length + payload.length;
    }
    this.socket.write(Buffer.concat(parts, total));
  }

  /** Bytes accepted by write() that the kernel has not taken yet. */
  get writeBacklogBytes(): number {
    return this.socket.writableLength;
  }

  close(reason: string, violation = false): void {
    this.finish({ reason, violation });
  }

  /** Close after what was already written reaches the peer (e.g. an AuthFail telling it why). */
  closeAfterFlush(reason: string, violation = false): void {
    if (this.closeInfo) return;
    this.finish({ reason, violation }, false);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private receive(chunk: Buffer): void {
    if (this.closeInfo) return;
    try {
      for (const frame of this.decoder.push(chunk)) {
        if (this.closeInfo) return;
        const payload = this.ciphers ? this.ciphers.incoming.open(PROTOCOL_VERSION, frame.kind, frame.payload) : frame.payload;
        this.onFrame(frame.kind, payload);
      }
    } catch (err) {
      this.close(err instanceof Error ? err.message : String(err), true);
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

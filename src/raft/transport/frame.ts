/**
 * Framing of the Raft port: [u32 length][u8 protocol version][u8 frame kind][payload], where
 * length counts the bytes after itself (version + kind + payload). The decoder rejects a bad
 * length prefix as soon as its 4 bytes arrive, so a peer can never make us buffer more than the
 * limit in force (which is tiny until the handshake succeeds).
 *
 * Version 2 added the Batch frame: on an encrypted connection, the frames one side queues in an
 * event-loop turn are sealed together (one AES-GCM setup, one write) as a Batch whose plaintext is
 * [u32 length][u8 kind][payload] per inner frame. Version 3 carries the per-cluster salt and the
 * key-derivation cost in the Challenge (auth.ts). Members of different versions cannot talk: a
 * frame of another version closes the connection with a message saying so.
 */

export const PROTOCOL_VERSION = 3;
export const BATCH_ENTRY_HEADER_BYTES = 5;
export const LENGTH_PREFIX_BYTES = 4;
export const FRAME_HEADER_BYTES = LENGTH_PREFIX_BYTES + 2;
/**
 * Frames between members (Raft messages: appends are capped at 4 MiB of entries by the core,
 * snapshot chunks at 1 MiB), with room for one large entry on top.
 */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Frames on a client connection (admin tools, KV clients, forwarding members): requests and answers. */
export const CLIENT_MAX_FRAME_BYTES = 1024 * 1024 + 1024;

export const FrameKind = {
  /** client → server: role, node id, client nonce, whether it has a password. */
  Hello: 1,
  /** server → client: whether a password is required, server nonce. */
  Challenge: 2,
  /** client → server: HMAC proof of the password over both nonces. */
  Auth: 3,
  /** server → client: the server's proof; both sides encrypt from the next frame on. */
  AuthOk: 4,
  /** server → client: why the handshake was refused; the server closes right after. */
  AuthFail: 5,
  RaftMessage: 6,
  /** u32 request id + JSON object. */
  RpcRequest: 7,
  /** u32 request id + u8 status (0 ok, 1 error) + JSON object. */
  RpcResponse: 8,
  /** Encrypted connections only: several RaftMessage / RpcRequest / RpcResponse frames sealed as one. */
  Batch: 9,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

const KIND_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(FrameKind).map(([name, code]) => [code, name]),
);

export function frameKindName(kind: number): string {
  return KIND_NAMES[kind] ?? `unknown(${kind})`;
}

/** Malformed framing: the connection that sent it is closed with this message as the reason. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

export interface Frame {
  kind: FrameKind;
  /** A view into socket memory: copy anything kept beyond the current callback. */
  payload: Buffer;
}

/** Encode the 6-byte header of a frame whose payload has `payloadBytes` bytes. */
export function frameHeader(kind: FrameKind, payloadBytes: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h.writeUInt32BE(payloadBytes + 2, 0);
  h[4] = PROTOCOL_VERSION;
  h[5] = kind;
  return h;
}

/**
 * Incremental decoder. Chunks are kept in a list and joined once per frame, so a large frame that
 * arrives in many small reads costs one copy, not one per read.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Total bytes (prefix included) of the frame being assembled, or -1 before its prefix arrived. */
  private expected = -1;

  constructor(public maxFrameBytes: number) {}

  /** Bytes of an incomplete frame held back; non-zero at close means the peer sent a truncated frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  get expectedBytes(): number {
    return this.expected;
  }

  /** Feed bytes; returns the complete frames. Throws FrameError on a malformed stream. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    while (true) {
      if (this.expected < 0) {
        if (this.buffered < LENGTH_PREFIX_BYTES) break;
        const length = this.peekLength();
        if (length < 2) throw new FrameError(`frame length ${length} is below the 2-byte header`);
        if (length > this.maxFrameBytes) {
          throw new FrameError(`frame of ${length} bytes exceeds the ${this.maxFrameBytes}-byte limit`);
        }
        this.expected = LENGTH_PREFIX_BYTES + length;
      }
      if (this.buffered < this.expected) break;
      const raw = this.take(this.expected);
      this.expected = -1;
      const version = raw[LENGTH_PREFIX_BYTES]!;
      if (version !== PROTOCOL_VERSION) {
        throw new FrameError(
          `the other side speaks Raft wire protocol version ${version}, this hactl speaks ${PROTOCOL_VERSION}: ` +
            'every member and every hactl that talks to them must run the same release (upgrade them together)',
        );
      }
      const kind = raw[LENGTH_PREFIX_BYTES + 1]!;
      if (KIND_NAMES[kind] === undefined) throw new FrameError(`unknown frame kind ${kind}`);
      frames.push({ kind: kind as FrameKind, payload: raw.subarray(FRAME_HEADER_BYTES) });
    }
    return frames;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= LENGTH_PREFIX_BYTES) return first.readUInt32BE(0);
    const joined = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [joined];
    return joined.readUInt32BE(0);
  }

  private take(bytes: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= bytes) {
      out = first.subarray(0, bytes);
      if (first.length === bytes) this.chunks.shift();
      else this.chunks[0] = first.subarray(bytes);
    } else {
      const joined = Buffer.concat(this.chunks, this.buffered);
      out = joined.subarray(0, bytes);
      this.chunks = joined.length > bytes ? [joined.subarray(bytes)] : [];
    }
    this.buffered -= bytes;
    return out;
  }
}

/** Kinds that may travel inside a Batch: the post-handshake traffic, never a Batch itself. */
function batchable(kind: number): boolean {
  return kind === FrameKind.RaftMessage || kind === FrameKind.RpcRequest || kind === FrameKind.RpcResponse;
}

/** Plaintext of a Batch frame. */
export function encodeBatch(frames: readonly Frame[]): Buffer {
  let total = 0;
  for (const f of frames) total += BATCH_ENTRY_HEADER_BYTES + f.payload.length;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const f of frames) {
    out.writeUInt32BE(f.payload.length, at);
    out[at + 4] = f.kind;
    f.payload.copy(out, at + BATCH_ENTRY_HEADER_BYTES);
    at += BATCH_ENTRY_HEADER_BYTES + f.payload.length;
  }
  return out;
}

/** Splits an opened Batch into its frames (views into `plain`); throws FrameError on anything malformed. */
export function decodeBatch(plain: Buffer): Frame[] {
  const frames: Frame[] = [];
  let at = 0;
  while (at < plain.length) {
    if (plain.length - at < BATCH_ENTRY_HEADER_BYTES) throw new FrameError(`truncated frame header inside a batch at offset ${at}`);
    const length = plain.readUInt32BE(at);
    const kind = plain[at + 4]!;
    if (!batchable(kind)) throw new FrameError(`${frameKindName(kind)} frame inside a batch`);
    const start = at + BATCH_ENTRY_HEADER_BYTES;
    if (length > plain.length - start) throw new FrameError(`frame of ${length} bytes inside a batch runs past its end`);
    frames.push({ kind: kind as FrameKind, payload: plain.subarray(start, start + length) });
    at = start + length;
  }
  if (frames.length === 0) throw new FrameError('empty batch frame');
  return frames;
}

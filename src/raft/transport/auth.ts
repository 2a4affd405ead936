/**
 * Authentication and encryption of Raft-port connections.
 *
 * Handshake (plaintext frames):
 *   client → Hello { role, nodeId, clientNonce, hasPassword }
 *   server → Challenge { passwordRequired, serverNonce }   (or AuthFail when the modes disagree)
 *   client → Auth { HMAC(key, "client" ‖ transcript) }
 *   server → AuthOk { HMAC(key, "server" ‖ transcript) }    (or AuthFail + close)
 * key = scrypt(password, fixed cluster salt): the password never crosses the wire, and the proofs
 * cover both fresh nonces so a recorded handshake cannot be replayed. Afterwards each direction
 * has its own AES-256-GCM key (HKDF of key and both nonces) and a frame counter used as the IV;
 * the counter is also sent so a replayed or reordered frame is named as such in the log.
 * Compared with pysyncobj (Fernet, timestamps only non-decreasing), replays inside a connection
 * are impossible and the server authenticates itself to the client too.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { CodecError, Reader, Writer } from '../codec/binary.js';

export const NONCE_BYTES = 32;
const PROOF_BYTES = 32;
const TAG_BYTES = 16;
const COUNTER_BYTES = 8;
/** Fixed per protocol, not per cluster: the password is the secret; the salt only defeats generic rainbow tables. */
const CLUSTER_SALT = Buffer.from('hactl raft password v1');
/** scrypt cost: ~50 ms once per process (then cached), expensive enough to slow offline guessing. */
const SCRYPT_OPTIONS = { N: 1 << 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

export type PeerRole = 'peer' | 'client';
const ROLE_CODES: Record<PeerRole, number> = { peer: 1, client: 2 };

export interface Hello {
  role: PeerRole;
  /** The connecting node's own address when role is 'peer'; empty for clients. */
  nodeId: string;
  clientNonce: Buffer;
  hasPassword: boolean;
}

export interface Challenge {
  passwordRequired: boolean;
  serverNonce: Buffer;
}

const keyCache = new Map<string, Promise<Buffer>>();

/** The long-term key derived from the cluster password (cached: scrypt is deliberately slow). */
export function deriveClusterKey(password: string): Promise<Buffer> {
  let key = keyCache.get(password);
  if (key === undefined) {
    key = new Promise<Buffer>((resolve, reject) => {
      scrypt(password, CLUSTER_SALT, 32, SCRYPT_OPTIONS, (err, derived) => (err ? reject(err) : resolve(derived)));
    });
    keyCache.set(password, key);
  }
  return key;
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

function readFixed(r: Reader, bytes: number, what: string): Buffer {
  const v = r.bytes(what);
  if (v.length !== bytes) throw new CodecError(`${what} must be ${bytes} bytes, got ${v.length}`);
  return v;
}

export function encodeHello(h: Hello): Buffer {
  return new Writer(96).u8(ROLE_CODES[h.role]).str(h.nodeId).bytes(h.clientNonce).u8(h.hasPassword ? 1 : 0).finish();
}

export function decodeHello(buf: Buffer): Hello {
  const r = new Reader(buf);
  const roleCode = r.u8('role');
  const role = roleCode === 1 ? 'peer' : roleCode === 2 ? 'client' : null;
  if (role === null) throw new CodecError(`unknown role ${roleCode}`);
  const nodeId = r.str('node id');
  if (role === 'peer' && (nodeId.length === 0 || nodeId.length > 1024)) {
    throw new CodecError('a peer must name itself with its address');
  }
  const clientNonce = Buffer.from(readFixed(r, NONCE_BYTES, 'client nonce'));
  const flag = r.u8('password flag');
  if (flag > 1) throw new CodecError(`password flag must be 0 or 1, got ${flag}`);
  r.end('hello');
  return { role, nodeId, clientNonce, hasPassword: flag === 1 };
}

export function encodeChallenge(c: Challenge): Buffer {
  return new Writer(48).u8(c.passwordRequired ? 1 : 0).bytes(c.serverNonce).finish();
}

export function decodeChallenge(buf: Buffer): Challenge {
  const r = new Reader(buf);
  const flag = r.u8('password flag');
  if (flag > 1) throw new CodecError(`password flag must be 0 or 1, got ${flag}`);
  const serverNonce = Buffer.from(readFixed(r, NONCE_BYTES, 'server nonce'));
  r.end('challenge');
  return { passwordRequired: flag === 1, serverNonce };
}

export function encodeProof(proof: Buffer): Buffer {
  return new Writer(40).bytes(proof).finish();
}

export function decodeProof(buf: Buffer): Buffer {
  const r = new Reader(buf);
  const proof = Buffer.from(readFixed(r, PROOF_BYTES, 'proof'));
  r.end('proof');
  return proof;
}

export function encodeReason(reason: string): Buffer {
  return new Writer(64).str(reason.slice(0, 500)).finish();
}

export function decodeReason(buf: Buffer): string {
  const r = new Reader(buf);
  const reason = r.str('reason');
  r.end('reason');
  return reason;
}

/** Everything both sides agreed on before the proofs: binding it stops a man in the middle editing the Hello. */
function transcript(hello: Hello, serverNonce: Buffer): Buffer {
  return Buffer.concat([encodeHello(hello), serverNonce]);
}

export function proof(key: Buffer, side: 'client' | 'server', hello: Hello, serverNonce: Buffer): Buffer {
  return createHmac('sha256', key).update(`hactl raft ${side} proof v1`).update(transcript(hello, serverNonce)).digest();
}

export function proofMatches(expected: Buffer, received: Buffer): boolean {
  return expected.length === received.length && timingSafeEqual(expected, received);
}

/** Thrown by SessionCipher.open: the connection must be closed with this reason. */
export class IntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IntegrityError';
  }
}

/**
 * One direction of an encrypted connection. Sealed payload = [u64 counter][ciphertext][16-byte tag];
 * the frame's version and kind bytes are authenticated as associated data.
 */
export class SessionCipher {
  private counter = 0;
  private readonly iv = Buffer.alloc(12);
  private readonly aad = Buffer.alloc(2);

  constructor(private readonly key: Buffer) {}

  private setIv(counter: number): void {
    this.iv.writeUInt32BE(Math.floor(counter / 0x1_0000_0000), 4);
    this.iv.writeUInt32BE(counter >>> 0, 8);
  }

  seal(version: number, kind: number, plaintext: Buffer): Buffer {
    const counter = this.counter++;
    this.setIv(counter);
    this.aad[0] = version;
    this.aad[1] = kind;
    const cipher = createCipheriv('aes-256-gcm', this.key, this.iv);
    cipher.setAAD(this.aad);
    const out = Buffer.allocUnsafe(COUNTER_BYTES + plaintext.length + TAG_BYTES);
    out.writeUInt32BE(Math.floor(counter / 0x1_0000_0000), 0);
    out.writeUInt32BE(counter >>> 0, 4);
    // GCM is a stream mode: update() returns exactly as many bytes as it is given.
    cipher.update(plaintext).copy(out, COUNTER_BYTES);
    cipher.final();
    cipher.getAuthTag().copy(out, COUNTER_BYTES + plaintext.length);
    return out;
  }

  open(version: number, kind: number, sealed: Buffer): Buffer {
    if (sealed.length < COUNTER_BYTES + TAG_BYTES) {
      throw new IntegrityError(`encrypted frame of ${sealed.length} bytes is too short`);
    }
    const counter = sealed.readUInt32BE(0) * 0x1_0000_0000 + sealed.readUInt32BE(4);
    if (counter !== this.counter) {
      throw new IntegrityError(`replayed or reordered frame: counter ${counter}, expected ${this.counter}`);
    }
    this.setIv(counter);
    this.aad[0] = version;
    this.aad[1] = kind;
    const decipher = createDecipheriv('aes-256-gcm', this.key, this.iv);
    decipher.setAAD(this.aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const plaintext = decipher.update(sealed.subarray(COUNTER_BYTES, sealed.length - TAG_BYTES));
    try {
      decipher.final();
    } catch {
      throw new IntegrityError('encrypted frame failed its integrity check (tampered, or keys differ)');
    }
    this.counter++;
    return plaintext;
  }
}

export interface SessionCiphers {
  /** Seals what this side sends. */
  outgoing: SessionCipher;
  /** Opens what this side receives. */
  incoming: SessionCipher;
}

/** Per-connection keys, one per direction, so the two counters never share an IV under one key. */
export function sessionCiphers(key: Buffer, clientNonce: Buffer, serverNonce: Buffer, side: 'client' | 'server'): SessionCiphers {
  const salt = Buffer.concat([clientNonce, serverNonce]);
  const c2s = new SessionCipher(Buffer.from(hkdfSync('sha256', key, salt, 'hactl raft client->server v1', 32)));
  const s2c = new SessionCipher(Buffer.from(hkdfSync('sha256', key, salt, 'hactl raft server->client v1', 32)));
  return side === 'client' ? { outgoing: c2s, incoming: s2c } : { outgoing: s2c, incoming: c2s };
}

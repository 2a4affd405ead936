/**
 * Authentication and encryption of Raft-port connections.
 *
 * Handshake (plaintext frames):
 *   client → Hello { role, nodeId, clientNonce, hasPassword }
 *   server → Challenge { passwordRequired, serverNonce, salt, log2N }   (or AuthFail when the modes disagree)
 *   client → Auth { HMAC(key, "client" ‖ transcript) }
 *   server → AuthOk { HMAC(key, "server" ‖ transcript) }    (or AuthFail + close)
 * key = scrypt(password, salt, N = 2^log2N): the password never crosses the wire, and the proofs
 * cover both fresh nonces and the whole challenge, so a recorded handshake cannot be replayed.
 * The salt is per cluster (derived from its name, the scope; random when a member has none), so
 * no precomputation serves two clusters; the cost is 2^15 (32 MiB, ~0.1 s on a quiet host), paid
 * once per process and salt (servers at start, clients on first contact). A client refuses a
 * challenge asking for less than that cost: a server impersonator must not get a cheap-to-crack proof. Afterwards each direction
 * has its own AES-256-GCM key (HKDF of key and both nonces) and a frame counter used as the IV;
 * the counter is also sent so a replayed or reordered frame is named as such in the log.
 * Compared with pysyncobj (Fernet, timestamps only non-decreasing), replays inside a connection
 * are impossible and the server authenticates itself to the client too.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { CodecError, Reader, Writer } from '../codec/binary.js';

export const NONCE_BYTES = 32;
const PROOF_BYTES = 32;
const TAG_BYTES = 16;
const COUNTER_BYTES = 8;
/** scrypt cost exponent of production keys, and the least a client accepts from a server. */
export const KDF_LOG2_N = 15;
/** A server may ask for more, up to this (bounds what a malicious server can make clients spend). */
const KDF_LOG2_N_MAX = 18;
const SALT_MIN_BYTES = 8;
const SALT_MAX_BYTES = 64;

/** How a member's key is derived from the password: announced in every challenge. */
export interface KdfParams {
  salt: Buffer;
  log2N: number;
}

/** The salt of a cluster: from its name (the scope) when it has one, else random per process. */
export function clusterSalt(clusterName: string | null): Buffer {
  if (clusterName === null || clusterName === '') return randomBytes(16);
  return createHash('sha256').update('hactl raft salt v2\0').update(clusterName).digest().subarray(0, 16);
}

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
  /** How the key is derived (meaningful when a password is required). */
  kdf: KdfParams;
}

interface CachedKey {
  promise: Promise<Buffer>;
  /** Set once derived: the handshake answers at once only with a key in hand. */
  value: Buffer | null;
}

/** Keyed by salt and cost, then password: scrypt is deliberately slow, so each pair is derived once. */
const keyCache = new Map<string, Map<string, CachedKey>>();

function cachedKey(password: string, params: KdfParams): CachedKey {
  const slot = `${params.log2N}:${params.salt.toString('base64')}`;
  let byPassword = keyCache.get(slot);
  if (byPassword === undefined) keyCache.set(slot, (byPassword = new Map()));
  let entry = byPassword.get(password);
  if (entry === undefined) {
    const N = 2 ** params.log2N;
    const e: CachedKey = {
      value: null,
      promise: new Promise<Buffer>((resolve, reject) => {
        // memory: 128 · N · r bytes, plus headroom.
        scrypt(password, params.salt, 32, { N, r: 8, p: 1, maxmem: 256 * N * 8 }, (err, derived) => (err ? reject(err) : resolve(derived)));
      }),
    };
    e.promise.then(
      (k) => (e.value = k),
      // The rejection reaches whoever awaits `promise`; this branch only marks it handled.
      () => undefined,
    );
    byPassword.set(password, (entry = e));
  }
  return entry;
}

/** The long-term key of a cluster password under `params` (cached per process). */
export function deriveClusterKey(password: string, params: KdfParams): Promise<Buffer> {
  return cachedKey(password, params).promise;
}

/** That key when this process has already derived it, else null (and its derivation is started). */
export function derivedClusterKey(password: string, params: KdfParams): Buffer | null {
  return cachedKey(password, params).value;
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
  return new Writer(128).u8(c.passwordRequired ? 1 : 0).bytes(c.serverNonce).bytes(c.kdf.salt).u8(c.kdf.log2N).finish();
}

export function decodeChallenge(buf: Buffer): Challenge {
  const r = new Reader(buf);
  const flag = r.u8('password flag');
  if (flag > 1) throw new CodecError(`password flag must be 0 or 1, got ${flag}`);
  const serverNonce = Buffer.from(readFixed(r, NONCE_BYTES, 'server nonce'));
  const salt = Buffer.from(r.bytes('salt'));
  if (salt.length < SALT_MIN_BYTES || salt.length > SALT_MAX_BYTES) throw new CodecError(`salt of ${salt.length} bytes (expected ${SALT_MIN_BYTES}..${SALT_MAX_BYTES})`);
  const log2N = r.u8('kdf cost');
  if (log2N > KDF_LOG2_N_MAX) throw new CodecError(`kdf cost 2^${log2N} is above 2^${KDF_LOG2_N_MAX}`);
  r.end('challenge');
  return { passwordRequired: flag === 1, serverNonce, kdf: { salt, log2N } };
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

/** Everything both sides agreed on before the proofs: binding it stops a man in the middle editing Hello or Challenge. */
function transcript(hello: Hello, challenge: Challenge): Buffer {
  return Buffer.concat([encodeHello(hello), encodeChallenge(challenge)]);
}

export function proof(key: Buffer, side: 'client' | 'server', hello: Hello, challenge: Challenge): Buffer {
  return createHmac('sha256', key).update(`hactl raft ${side} proof v2`).update(transcript(hello, challenge)).digest();
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

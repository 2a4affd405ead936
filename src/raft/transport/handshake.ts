/**
 * Both ends of the connection handshake (protocol in auth.ts): `dial` connects and authenticates
 * as a peer or a client; `acceptHandshake` is the server side. Either way a failure closes the
 * connection and says why, on both sides.
 */
import { connect } from 'node:net';
import type { Logger } from '../kv/types.js';
import { Reader, Writer } from '../codec/binary.js';
import { parseAddr } from './address.js';
import {
  decodeChallenge,
  decodeHello,
  decodeProof,
  deriveClusterKey,
  derivedClusterKey,
  encodeChallenge,
  encodeHello,
  encodeProof,
  KDF_LOG2_N,
  newNonce,
  proof,
  proofMatches,
  sessionCiphers,
  type Challenge,
  type Hello,
  type KdfParams,
  type PeerRole,
} from './auth.js';
import { Channel, unexpectedFrame } from './channel.js';
import { FrameKind } from './frame.js';
import { RaftAuthFailed, RaftNodeUnreachable } from './errors.js';

/** Why the server refused a handshake; the client turns the code into its own wording. */
const AuthFailCode = { WrongPassword: 1, PasswordRequired: 2, NoPasswordHere: 3 } as const;
type AuthFailCode = (typeof AuthFailCode)[keyof typeof AuthFailCode];

function encodeAuthFail(code: AuthFailCode): Buffer {
  return new Writer(8).u8(code).finish();
}

function decodeAuthFail(buf: Buffer): number {
  const r = new Reader(buf);
  const code = r.u8('auth failure code');
  r.end('auth failure');
  return code;
}

function authFailure(addr: string, code: number): RaftAuthFailed {
  switch (code) {
    case AuthFailCode.WrongPassword:
      return new RaftAuthFailed(addr, `wrong raft password for ${addr}`);
    case AuthFailCode.PasswordRequired:
      return new RaftAuthFailed(addr, `${addr} requires a raft password and none is configured here`);
    case AuthFailCode.NoPasswordHere:
      return new RaftAuthFailed(addr, `${addr} has no raft password but one is configured here`);
    default:
      return new RaftAuthFailed(addr, `${addr} refused the handshake (code ${code})`);
  }
}

export interface DialOptions {
  role: PeerRole;
  /** Our own address, when dialling as a peer. */
  nodeId: string;
  /** Cluster password, or null without one; the key is derived with the server's salt and cost. */
  password: string | null;
  /** Least key-derivation cost (log2 N) accepted from a server; tests of the transport lower it. */
  minKdfLog2N?: number;
  /** Covers connect and handshake. */
  timeoutMs: number;
  maxFrameBytes: number;
  /** Installed before any post-handshake frame can be delivered. */
  onFrame: (kind: FrameKind, payload: Buffer) => void;
  /** Abandons the attempt (the transport is closing), so no socket outlives it. */
  signal?: AbortSignal;
}

/**
 * The server announced a salt this process has no key for yet. Deriving it (scrypt: a second on a
 * loaded host) must not run inside the server's handshake timeout, so the attempt is dropped, the
 * key derived, and the dial repeated.
 */
class KeyNotDerived extends Error {
  constructor(readonly derivation: Promise<Buffer>) {
    super('deriving the password key for this cluster first');
  }
}

/**
 * Connect to `addr` and authenticate; resolves with an established channel. On first contact with
 * a cluster (a salt not seen yet) that takes two connections: see KeyNotDerived.
 */
export async function dial(addr: string, opts: DialOptions): Promise<Channel> {
  try {
    return await dialOnce(addr, opts);
  } catch (err) {
    if (!(err instanceof KeyNotDerived)) throw err;
    try {
      await abortable(err.derivation, opts.signal, addr);
    } catch (e) {
      if (e instanceof RaftNodeUnreachable) throw e;
      throw new RaftAuthFailed(addr, `cannot derive the key: ${(e as Error).message}`);
    }
  }
  try {
    return await dialOnce(addr, opts);
  } catch (err) {
    // Only a server that changed its salt in between (it restarted without a cluster name) gets here.
    if (err instanceof KeyNotDerived) throw new RaftNodeUnreachable(addr, 'its password salt changed during the handshake (restarted?)');
    throw err;
  }
}

function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined, addr: string): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new RaftNodeUnreachable(addr, 'connection attempt abandoned'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new RaftNodeUnreachable(addr, 'connection attempt abandoned'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}

function dialOnce(addr: string, opts: DialOptions): Promise<Channel> {
  return new Promise((resolve, reject) => {
    let hostPort;
    try {
      hostPort = parseAddr(addr);
    } catch (err) {
      reject(new RaftNodeUnreachable(addr, (err as Error).message));
      return;
    }
    const socket = connect({ host: hostPort.host, port: hostPort.port, noDelay: true });
    const ch = new Channel(socket, addr);
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      ch.close(err.message);
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new RaftNodeUnreachable(addr, `no answer within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    let connected = false;
    const onAbort = (): void => fail(new RaftNodeUnreachable(addr, 'connection attempt abandoned'));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    ch.onClose((info) => {
      const reason = connected ? `connection closed during the handshake (${info.reason})` : info.reason;
      fail(new RaftNodeUnreachable(addr, reason));
    });

    const hello: Hello = { role: opts.role, nodeId: opts.role === 'peer' ? opts.nodeId : '', clientNonce: newNonce(), hasPassword: opts.password !== null };
    let challenge: Challenge | null = null;
    let key: Buffer | null = null;
    const done = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      ch.onFrame = opts.onFrame;
      resolve(ch);
    };
    socket.once('connect', () => {
      connected = true;
      socket.setKeepAlive(true, 10_000);
      ch.send(FrameKind.Hello, encodeHello(hello));
    });
    const answer = (c: Challenge, password: string): void => {
      const least = opts.minKdfLog2N ?? KDF_LOG2_N;
      if (c.kdf.log2N < least) {
        // Whoever asks for a cheap hash may be collecting proofs to guess the password offline.
        fail(new RaftAuthFailed(addr, `${addr} asks for a password hash cost of 2^${c.kdf.log2N}, below the 2^${least} this member accepts (not an hactl member of this version?)`));
        return;
      }
      const derived = derivedClusterKey(password, c.kdf);
      if (derived === null) {
        fail(new KeyNotDerived(deriveClusterKey(password, c.kdf)));
        return;
      }
      key = derived;
      ch.send(FrameKind.Auth, encodeProof(proof(derived, 'client', hello, c)));
    };
    ch.onFrame = (kind, payload) => {
      if (kind === FrameKind.AuthFail) {
        fail(authFailure(addr, decodeAuthFail(payload)));
      } else if (kind === FrameKind.Challenge && challenge === null) {
        const c = (challenge = decodeChallenge(payload));
        if (opts.password === null && c.passwordRequired) fail(authFailure(addr, AuthFailCode.PasswordRequired));
        else if (opts.password !== null && !c.passwordRequired) fail(authFailure(addr, AuthFailCode.NoPasswordHere));
        else if (opts.password === null) {
          ch.established(null, opts.maxFrameBytes);
          done();
        } else {
          answer(c, opts.password);
        }
      } else if (kind === FrameKind.AuthOk && challenge !== null && key !== null) {
        // Mutual authentication: a node that does not know the password cannot pose as the cluster.
        if (!proofMatches(proof(key, 'server', hello, challenge), decodeProof(payload))) {
          fail(new RaftAuthFailed(addr, `${addr} could not prove it knows the raft password`));
          return;
        }
        ch.established(sessionCiphers(key, hello.clientNonce, challenge.serverNonce, 'client'), opts.maxFrameBytes);
        done();
      } else {
        throw unexpectedFrame(kind, 'during the handshake');
      }
    };
  });
}

export interface AcceptOptions {
  /** This member's key (derived once, at listen), or null without a password. */
  key: Buffer | null;
  /** How that key was derived: announced to clients in the challenge. */
  kdf: KdfParams;
  timeoutMs: number;
  /** Frame limit once established: members exchange Raft messages, clients only requests. */
  maxFrameBytes: (role: PeerRole) => number;
  logger: Logger;
}

/**
 * Server side. Calls `onEstablished` (synchronously, before any later frame is handled) once the
 * client is authenticated; otherwise closes the connection, having logged why.
 */
export function acceptHandshake(ch: Channel, opts: AcceptOptions, onEstablished: (hello: Hello) => void): void {
  let hello: Hello | null = null;
  let challenge: Challenge | null = null;
  let settled = false;
  const settle = (result: Hello | null): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    if (result) onEstablished(result);
  };
  const timer = setTimeout(() => ch.close(`no handshake within ${opts.timeoutMs} ms`, true), opts.timeoutMs);
  ch.onClose(() => settle(null));
  const refuse = (code: AuthFailCode, why: string): void => {
    opts.logger.warn(`authentication failed from ${ch.remote}: ${why}`);
    ch.send(FrameKind.AuthFail, encodeAuthFail(code));
    ch.closeAfterFlush('authentication failed');
  };
  ch.onFrame = (kind, payload) => {
    if (kind === FrameKind.Hello && hello === null) {
      hello = decodeHello(payload);
      if (opts.key !== null && !hello.hasPassword) {
        refuse(AuthFailCode.PasswordRequired, 'the client has no raft password');
        return;
      }
      if (opts.key === null && hello.hasPassword) {
        refuse(AuthFailCode.NoPasswordHere, 'the client uses a raft password but this node has none');
        return;
      }
      challenge = { passwordRequired: opts.key !== null, serverNonce: newNonce(), kdf: opts.kdf };
      ch.send(FrameKind.Challenge, encodeChallenge(challenge));
      if (opts.key === null) {
        ch.established(null, opts.maxFrameBytes(hello.role));
        settle(hello);
      }
    } else if (kind === FrameKind.Auth && hello !== null && challenge !== null && opts.key !== null && !settled) {
      if (!proofMatches(proof(opts.key, 'client', hello, challenge), decodeProof(payload))) {
        refuse(AuthFailCode.WrongPassword, 'wrong raft password');
        return;
      }
      ch.send(FrameKind.AuthOk, encodeProof(proof(opts.key, 'server', hello, challenge)));
      ch.established(sessionCiphers(opts.key, hello.clientNonce, challenge.serverNonce, 'server'), opts.maxFrameBytes(hello.role));
      settle(hello);
    } else {
      throw unexpectedFrame(kind, 'during the handshake');
    }
  };
}

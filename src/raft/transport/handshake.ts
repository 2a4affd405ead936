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
  encodeChallenge,
  encodeHello,
  encodeProof,
  newNonce,
  proof,
  proofMatches,
  sessionCiphers,
  type Hello,
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
  /** Cluster key (from deriveClusterKey), or null without a password. */
  key: Buffer | null;
  /** Covers connect and handshake. */
  timeoutMs: number;
  maxFrameBytes: number;
  /** Installed before any post-handshake frame can be delivered. */
  onFrame: (kind: FrameKind, payload: Buffer) => void;
  /** Abandons the attempt (the transport is closing), so no socket outlives it. */
  signal?: AbortSignal;
}

/** Connect to `addr` and authenticate; resolves with an established channel. */
export function dial(addr: string, opts: DialOptions): Promise<Channel> {
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

    const hello: Hello = { role: opts.role, nodeId: opts.role === 'peer' ? opts.nodeId : '', clientNonce: newNonce(), hasPassword: opts.key !== null };
    let serverNonce: Buffer | null = null;
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
    ch.onFrame = (kind, payload) => {
      if (kind === FrameKind.AuthFail) {
        fail(authFailure(addr, decodeAuthFail(payload)));
      } else if (kind === FrameKind.Challenge && serverNonce === null) {
        const challenge = decodeChallenge(payload);
        serverNonce = challenge.serverNonce;
        if (opts.key === null && challenge.passwordRequired) fail(authFailure(addr, AuthFailCode.PasswordRequired));
        else if (opts.key !== null && !challenge.passwordRequired) fail(authFailure(addr, AuthFailCode.NoPasswordHere));
        else if (opts.key === null) {
          ch.established(null, opts.maxFrameBytes);
          done();
        } else {
          ch.send(FrameKind.Auth, encodeProof(proof(opts.key, 'client', hello, serverNonce)));
        }
      } else if (kind === FrameKind.AuthOk && serverNonce !== null && opts.key !== null) {
        // Mutual authentication: a node that does not know the password cannot pose as the cluster.
        if (!proofMatches(proof(opts.key, 'server', hello, serverNonce), decodeProof(payload))) {
          fail(new RaftAuthFailed(addr, `${addr} could not prove it knows the raft password`));
          return;
        }
        ch.established(sessionCiphers(opts.key, hello.clientNonce, serverNonce, 'client'), opts.maxFrameBytes);
        done();
      } else {
        throw unexpectedFrame(kind, 'during the handshake');
      }
    };
  });
}

export interface AcceptOptions {
  key: Buffer | null;
  timeoutMs: number;
  maxFrameBytes: number;
  logger: Logger;
}

/**
 * Server side. Calls `onEstablished` (synchronously, before any later frame is handled) once the
 * client is authenticated; otherwise closes the connection, having logged why.
 */
export function acceptHandshake(ch: Channel, opts: AcceptOptions, onEstablished: (hello: Hello) => void): void {
  let hello: Hello | null = null;
  let serverNonce: Buffer | null = null;
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
      serverNonce = newNonce();
      ch.send(FrameKind.Challenge, encodeChallenge({ passwordRequired: opts.key !== null, serverNonce }));
      if (opts.key === null) {
        ch.established(null, opts.maxFrameBytes);
        settle(hello);
      }
    } else if (kind === FrameKind.Auth && hello !== null && serverNonce !== null && opts.key !== null && !settled) {
      if (!proofMatches(proof(opts.key, 'client', hello, serverNonce), decodeProof(payload))) {
        refuse(AuthFailCode.WrongPassword, 'wrong raft password');
        return;
      }
      ch.send(FrameKind.AuthOk, encodeProof(proof(opts.key, 'server', hello, serverNonce)));
      ch.established(sessionCiphers(opts.key, hello.clientNonce, serverNonce, 'server'), opts.maxFrameBytes);
      settle(hello);
    } else {
      throw unexpectedFrame(kind, 'during the handshake');
    }
  };
}

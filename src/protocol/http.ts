/**
 * The one HTTP client of hactl (the CLI, and the agent asking its peers): node:http/https (a few ms
 * to load, where the global fetch costs 15–25 ms on first use — `hactl list` runs in loops — and
 * compiles undici's llhttp WebAssembly, ~10 MB an agent would keep for its lifetime). One request
 * per call, a deadline that covers connect and the whole response, Basic auth, TLS with a CA file,
 * client certificates or -k.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { AgentUnreachable, InvalidAgentUrl } from './errors.js';

export interface Credentials {
  username: string;
  password?: string;
}

export interface TlsSettings {
  /** PEM text of the CA bundle that signs the agents' certificates. */
  ca?: string;
  /** PEM text of a client certificate and key (restapi.verify_client). */
  cert?: string;
  key?: string;
  passphrase?: string;
  /** Do not verify the agents' certificates (-k / ctl.insecure). */
  insecure?: boolean;
}

export interface HttpRequest {
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** Serialized as JSON. */
  body?: unknown;
  auth?: Credentials;
  tls?: TlsSettings;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** Agents answer a few KB; a runaway body is cut off rather than buffered. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export async function httpRequest(url: string, req: HttpRequest): Promise<HttpResponse> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidAgentUrl(`invalid agent URL ${JSON.stringify(url)}: expected http://host:port or https://host:port`);
  }
  const https = parsed.protocol === 'https:';
  if (!https && parsed.protocol !== 'http:') throw new InvalidAgentUrl(`invalid agent URL ${url}: only http and https are supported`);
  const mod = https ? await import('node:https') : await import('node:http');
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body), 'utf8');
  const headers: Record<string, string> = { accept: 'application/json, text/plain', 'user-agent': 'hactl' };
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  if (req.auth) {
    headers.authorization = `Basic ${Buffer.from(`${req.auth.username}:${req.auth.password ?? ''}`).toString('base64')}`;
  }
  const tls = https
    ? { ca: req.tls?.ca, cert: req.tls?.cert, key: req.tls?.key, passphrase: req.tls?.passphrase, rejectUnauthorized: !req.tls?.insecure }
    : {};
  const origin = `${parsed.protocol}//${parsed.host}`;

  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    let connected = false;
    const fail = (reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      reject(new AgentUnreachable(origin, reason, connected));
    };
    const request = mod.request(parsed, { method: req.method ?? 'GET', headers, agent: false, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) return fail(`response larger than ${MAX_BODY_BYTES} bytes`);
        chunks.push(chunk);
      });
      res.on('error', (err) => fail(describeNetworkError(err)));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    const timer = setTimeout(() => fail(`no answer within ${formatSeconds(req.timeoutMs)}`), req.timeoutMs);
    request.on('error', (err) => fail(describeNetworkError(err)));
    request.once('socket', (socket) => socket.once(https ? 'secureConnect' : 'connect', () => (connected = true)));
    if (req.signal) {
      if (req.signal.aborted) fail('aborted');
      req.signal.addEventListener('abort', () => fail('aborted'), { once: true });
    }
    request.end(payload);
  });
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** Node's error codes in the words an operator expects. */
export function describeNetworkError(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { reason?: string };
  switch (e.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset by the agent';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_HAS_EXPIRED':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `TLS certificate not accepted (${e.message}); pass --cacert FILE (ctl.cacert) or -k`;
    default:
      return e.message || String(err);
  }
}

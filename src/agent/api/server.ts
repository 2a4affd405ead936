/**
 * The agent's REST server on node:http(s): Patroni's routing (first path segment picks a handler,
 * every other GET is a health check), access control on unsafe methods, and a dispatcher that
 * turns any failure into an answer — a bad request never takes the agent down.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { DcsUnavailable } from '../../dcs/index.js';
import { Allowlist, plainAddress } from './allowlist.js';
import * as h from './handlers.js';
import { BasicAuth, DEFAULT_MAX_BODY_BYTES, oneLine, sendStatusOnly, sendText } from './http-io.js';
import { ApiError, type AgentApi, type ApiServerOptions } from './types.js';

type Handler = (ctx: h.HandlerContext) => Promise<void>;

const GET_ROUTES: Record<string, Handler> = {
  patroni: h.getPatroni,
  cluster: h.getCluster,
  history: h.getHistory,
  config: h.getConfig,
  metrics: h.getMetrics,
  liveness: h.getLiveness,
  readiness: h.getReadiness,
  failover: h.getFailoverCandidates,
  failsafe: h.getFailsafe,
};

/** Unsafe methods: these need the access checks. Key: `METHOD segment`. */
const UNSAFE_ROUTES: Record<string, Handler> = {
  'POST switchover': h.postSwitchover('switchover'),
  'POST failover': h.postSwitchover('failover'),
  'POST restart': h.postRestart,
  'POST reinitialize': h.postReinitialize,
  'POST reload': h.postReload,
  'POST failsafe': h.postFailsafe,
  'DELETE switchover': h.deleteSwitchover,
  'DELETE restart': h.deleteRestart,
  'PATCH config': h.patchConfig,
  'PUT config': h.putConfig,
};

/** The REST API could not listen; the message names the address. */
export class ApiBindError extends Error {
  constructor(
    readonly address: string,
    cause: NodeJS.ErrnoException,
  ) {
    const why = cause.code === 'EADDRINUSE' ? 'address already in use' : cause.code === 'EACCES' ? 'permission denied' : cause.message;
    super(`REST API cannot listen on ${address}: ${why}${cause.code ? ` (${cause.code})` : ''}`, { cause });
    this.name = 'ApiBindError';
  }
}

/** `host[,host…]:port` or `[v6]:port` → the first host and the port; '' host = all interfaces. */
export function parseListen(listen: string): { host: string | undefined; port: number } {
  const colon = listen.lastIndexOf(':');
  if (colon < 0) throw new Error(`restapi.listen must be host:port, got ${JSON.stringify(listen)}`);
  const port = Number(listen.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`restapi.listen has a bad port: ${listen}`);
  let host = listen.slice(0, colon).split(',')[0]!.trim();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host === '' || host === '*' ? undefined : host, port };
}

function readPem(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`cannot read restapi.${what} ${path}: ${(error as Error).message}`, { cause: error });
  }
}

export const DEFAULT_MAX_CONNECTIONS = 200;
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 50;

export class ApiServer {
  private server: http.Server | https.Server | null = null;
  private auth: BasicAuth | null = null;
  private allowlist: Allowlist | null = null;
  private options: ApiServerOptions;
  /** Open connections per source address (the per-address cap). */
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly agent: AgentApi,
    options: ApiServerOptions,
  ) {
    this.options = options;
    this.applyAuth();
  }

  /** Binds and starts serving. Rejects with `ApiBindError` (or a TLS file error) without leaving anything open. */
  async start(): Promise<{ host: string; port: number; url: string }> {
    const { host, port } = parseListen(this.options.listen);
    const tls = Boolean(this.options.certfile);
    await this.buildAllowlist();
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.dispatch(req, res);
    // Idle and slow clients are reaped every 2 s against headersTimeout/requestTimeout (Node's default: 30 s).
    const base = { connectionsCheckingInterval: 2000 };
    let server: http.Server | https.Server;
    if (tls) {
      if (!this.options.keyfile) throw new Error('restapi.certfile is set but restapi.keyfile is not');
      const verify = this.options.verifyClient ?? 'none';
      server = https.createServer(
        {
          cert: readPem('certfile', this.options.certfile!),
          key: readPem('keyfile', this.options.keyfile),
          passphrase: this.options.keyfilePassword,
          ca: this.options.cafile ? readPem('cafile', this.options.cafile) : undefined,
          requestCert: verify !== 'none',
          rejectUnauthorized: verify === 'required',
          ciphers: this.options.ciphers,
          ...base,
        },
        handler,
      );
    } else {
      server = http.createServer(base, handler);
    }
    this.limitConnections(server);
    // Slow or stuck clients must not pile up sockets on a health endpoint polled every second.
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.keepAliveTimeout = 5_000;
    server.on('clientError', (_error, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => reject(new ApiBindError(this.options.listen, error));
      server.once('error', onError);
      server.listen({ host, port }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return { host: address.address, port: address.port, url: `${tls ? 'https' : 'http'}://${shownHost}:${address.port}` };
  }

  /**
   * Stops listening and closes idle connections. In-flight requests get `graceMs` to finish (a
   * switchover request may be waiting for its result), then their connections are cut.
   */
  async stop(graceMs = 2000): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      timer.unref();
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      server.closeIdleConnections();
    });
  }

  /** SIGHUP: new credentials, headers, allowlist and caps apply to the next request (listen/TLS changes need a restart). */
  async reload(options: Partial<ApiServerOptions>): Promise<void> {
    const { listen: _l, certfile: _c, keyfile: _k, keyfilePassword: _p, cafile: _a, ciphers: _i, verifyClient: _v, ...applicable } = options;
    this.options = { ...this.options, ...applicable };
    this.applyAuth();
    await this.buildAllowlist();
    if (this.server) this.server.maxConnections = this.options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  }

  private async buildAllowlist(): Promise<void> {
    const problems: string[] = [];
    const list = await Allowlist.build(this.options.allowlist, this.options.allowlistIncludeMembers === true, this.options.memberApiHosts ?? (() => []), problems);
    if (problems.length > 0) throw new Error(problems.join('; '));
    this.allowlist = list.active ? list : null;
  }

  /**
   * File descriptors are shared with Raft and PostgreSQL: a total cap (the kernel queue holds the rest
   * only until Node closes them) and a per-address cap, so one client cannot starve the others.
   */
  private limitConnections(server: http.Server | https.Server): void {
    server.maxConnections = this.options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    server.on('connection', (socket: import('node:net').Socket) => {
      const address = plainAddress(socket.remoteAddress ?? '');
      const open = this.perAddress.get(address) ?? 0;
      if (open >= (this.options.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS)) {
        socket.destroy();
        return;
      }
      this.perAddress.set(address, open + 1);
      socket.once('close', () => {
        const left = (this.perAddress.get(address) ?? 1) - 1;
        if (left <= 0) this.perAddress.delete(address);
        else this.perAddress.set(address, left);
      });
    });
  }

  private applyAuth(): void {
    const credentials = this.options.authentication;
    this.auth = credentials ? new BasicAuth(credentials.username, credentials.password ?? '') : null;
  }

  private headers(): Record<string, string> {
    const tokens = this.options.serverTokens ?? 'minimal';
    const headers: Record<string, string> = { ...(this.options.extraHeaders ?? {}) };
    if (tokens !== 'original') headers.Server = tokens === 'productonly' ? 'hactl' : `hactl/${this.options.version}`;
    return headers;
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const headers = this.headers();
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://localhost');
      } catch {
        throw new ApiError(400, 'malformed request target');
      }
      const path = url.pathname;
      const segment = path.replace(/^\/+/, '').split('/')[0] ?? '';
      const method = req.method ?? 'GET';
      const statusOnly = method === 'HEAD' || method === 'OPTIONS';
      const ctx: h.HandlerContext = {
        agent: this.agent,
        req,
        res,
        path,
        query: url.searchParams,
        statusOnly,
        headers,
        nowMs: (this.options.now ?? Date.now)(),
        maxBodyBytes: this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
        version: this.options.version,
        scope: this.options.scope,
        name: this.options.name,
      };
      if (method === 'GET' || statusOnly) return await (GET_ROUTES[segment] ?? h.getHealth)(ctx);
      const unsafe = UNSAFE_ROUTES[`${method} ${segment}`];
      // Patroni answers unknown method/path pairs like its stdlib server does: 501.
      if (!unsafe) throw new ApiError(501, `Unsupported method ('${oneLine(method)}') for ${oneLine(path)}`);
      await this.checkAccess(req);
      await unsafe(ctx);
    } catch (error) {
      this.answerError(req, res, headers, error);
    }
  }

  /** Patroni's check_access order: source address (allowlist), client certificate (when asked for), then Basic auth. */
  private async checkAccess(req: http.IncomingMessage): Promise<void> {
    if (this.allowlist && !(await this.allowlist.allows(req.socket.remoteAddress))) throw new ApiError(403, 'Access is denied');
    if (this.options.certfile && (this.options.verifyClient ?? 'none') !== 'none') {
      if (!(req.socket as TLSSocket).authorized) throw new ApiError(403, 'client certificate required');
    }
    const refusal = this.auth?.check(req.headers.authorization) ?? null;
    if (refusal) throw new ApiError(401, refusal);
  }

  private answerError(req: http.IncomingMessage, res: http.ServerResponse, headers: Record<string, string>, error: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    let status: number;
    let text: string;
    if (error instanceof ApiError) {
      status = error.status;
      text = error.text;
    } else if (error instanceof DcsUnavailable) {
      status = 503;
      text = error.message;
    } else {
      status = 500;
      text = `internal error: ${error instanceof Error ? error.message : String(error)}`;
      this.options.logError?.(`REST API ${req.method} ${req.url} failed`, error);
    }
    const extra: Record<string, string> = {};
    if (status === 401) extra['WWW-Authenticate'] = 'Basic realm="hactl"';
    // An unread (too large) body would otherwise be drained from a client we already refused.
    if (status === 413) extra.Connection = 'close';
    if (req.method === 'HEAD' || req.method === 'OPTIONS') sendStatusOnly(res, status);
    else sendText(res, { headers }, status, oneLine(text), extra);
  }
}

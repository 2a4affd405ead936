/**
 * From the `restapi:` (and `ctl:`) sections to the REST server's options, the TLS the agent uses for
 * its own calls to its peers, and the start-up rule for unauthenticated unsafe methods.
 *
 * Patroni leaves POST /switchover, PATCH /config, /restart, /reinitialize open when no authentication
 * is configured. PATCH /config can set archive_command or a `trust` pg_hba line: code execution as the
 * PostgreSQL user and open database access for anyone who reaches the port. hactl refuses that on a
 * non-loopback address unless `restapi.allow_unauthenticated_unsafe: true` says it is meant.
 */
import { readFileSync } from 'node:fs';
import type { HactlConfig } from '../config/index.js';
import type { TlsSettings } from '../protocol/index.js';
import type { ApiServerOptions } from './api/index.js';

/** A hard refusal (the agent does not start) or a warning (logged once), or nothing. */
export interface UnsafeAccessVerdict {
  refuse: string | null;
  warn: string | null;
}

function listenHosts(listen: string): string[] {
  const colon = listen.lastIndexOf(':');
  return listen
    .slice(0, colon)
    .split(',')
    .map((h) => h.trim().replace(/^\[(.*)\]$/, '$1'));
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Who can call the unsafe methods, and whether hactl may start that way. */
export function unsafeAccessVerdict(config: HactlConfig): UnsafeAccessVerdict {
  const r = config.restapi;
  const password = r.authentication !== undefined;
  // Patroni's check_access asks unsafe calls for a client certificate when verify_client is optional or required.
  const clientCert = r.certfile !== undefined && (r.verify_client === 'optional' || r.verify_client === 'required');
  if (password || clientCert) return { refuse: null, warn: null };
  const hosts = listenHosts(r.listen);
  const what = 'unsafe REST methods (POST /switchover, /failover, /restart, /reinitialize, PATCH/PUT /config) need no authentication';
  if (hosts.length > 0 && hosts.every(isLoopbackHost)) {
    return { refuse: null, warn: `${what}: any local user can call them; set restapi.authentication` };
  }
  if (r.allow_unauthenticated_unsafe) {
    return { refuse: null, warn: `${what} and restapi.listen ${r.listen} is reachable from other hosts (restapi.allow_unauthenticated_unsafe: true)` };
  }
  return {
    refuse:
      `restapi.listen ${r.listen} is not a loopback address and neither restapi.authentication nor restapi.verify_client protects the ${what.replace(' need no authentication', '')}: ` +
      'set restapi.authentication (username, password), or restapi.certfile with restapi.verify_client: required, ' +
      'or restapi.allow_unauthenticated_unsafe: true to run without protection on purpose',
    warn: null,
  };
}

/** The REST server's options from the config (TLS files are read by the server at start). */
export function apiServerOptions(config: HactlConfig, rest: Pick<ApiServerOptions, 'version' | 'logError' | 'memberApiHosts'>): ApiServerOptions {
  const r = config.restapi;
  const tls = r.certfile !== undefined;
  return {
    listen: r.listen,
    authentication: r.authentication as { username: string; password?: string } | undefined,
    certfile: r.certfile,
    keyfile: r.keyfile,
    keyfilePassword: r.keyfile_password,
    cafile: r.cafile,
    ciphers: r.ciphers,
    verifyClient: r.verify_client,
    // Patroni adds https_extra_headers on top of http_extra_headers when it serves HTTPS.
    extraHeaders: { ...(r.http_extra_headers ?? {}), ...(tls ? (r.https_extra_headers ?? {}) : {}) },
    serverTokens: r.server_tokens,
    allowlist: r.allowlist,
    allowlistIncludeMembers: r.allowlist_include_members === true,
    maxConnections: r.max_connections,
    maxConnectionsPerAddress: r.max_connections_per_address,
    scope: config.scope,
    name: config.name,
    ...rest,
  };
}

function readPem(key: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${key} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * TLS for the agent's GET /patroni to its peers, as Patroni's PatroniRequest: `ctl` values first, then
 * `restapi` (cafile to verify the peers, certfile/keyfile as client certificate for verify_client).
 */
export function peerTls(config: HactlConfig): TlsSettings {
  const r = config.restapi;
  const ctl = (config.ctl ?? {}) as Record<string, unknown>;
  const pick = (ctlKey: string, restKey: string | undefined): [string, string] | null => {
    const fromCtl = typeof ctl[ctlKey] === 'string' && ctl[ctlKey] !== '' ? (ctl[ctlKey] as string) : undefined;
    if (fromCtl) return [`ctl.${ctlKey}`, fromCtl];
    return restKey ? [`restapi.${ctlKey === 'cacert' ? 'cafile' : ctlKey}`, restKey] : null;
  };
  const ca = pick('cacert', r.cafile);
  const cert = pick('certfile', r.certfile);
  const key = pick('keyfile', r.keyfile);
  const passphrase = typeof ctl.keyfile_password === 'string' ? ctl.keyfile_password : r.keyfile_password;
  return {
    ca: ca ? readPem(ca[0], ca[1]) : undefined,
    // TLS sends a client certificate only to a server that asks for one (verify_client).
    cert: cert && key ? readPem(cert[0], cert[1]) : undefined,
    key: cert && key ? readPem(key[0], key[1]) : undefined,
    passphrase,
    insecure: ctl.insecure === true,
  };
}

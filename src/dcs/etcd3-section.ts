/**
 * The config file's `etcd3:` section (Patroni's keys; src/config/schema.ts validates it — repeated
 * structurally here because src/dcs does not import the config layer) and what the etcd3 client
 * needs from it: endpoint URLs, TLS material, credentials.
 */
import { readFile } from 'node:fs/promises';
import type { IOptions } from 'etcd3';
import { DcsError } from './errors.js';

export interface Etcd3Section {
  /** One `host:port`. */
  host?: string;
  /** `host:port` list, or one comma-separated string (Patroni accepts both). */
  hosts?: string[] | string;
  /** `http` (default) or `https`; `https` when `cacert` or `cert` is set and this is not. */
  protocol?: string;
  username?: string;
  password?: string;
  /** PEM files: CA bundle to verify etcd, and the client certificate + key for mutual TLS. */
  cacert?: string;
  cert?: string;
  key?: string;
  [other: string]: unknown;
}

/** What the client is built from; `endpoints` (`host:port`) is what error messages name. */
export interface Etcd3Connection {
  endpoints: string[];
  clientOptions: Pick<IOptions, 'hosts' | 'credentials' | 'auth'>;
}

/** Patroni's default when the section names no host. */
export const DEFAULT_ETCD3_HOST = '127.0.0.1:2379';

/** Patroni keys we do not implement: refusing them beats silently talking to the wrong place. */
const UNSUPPORTED = ['url', 'proxy', 'srv', 'srv_suffix', 'use_proxies', 'key_password'];

export function etcd3Endpoints(section: Etcd3Section): string[] {
  const raw = section.hosts ?? section.host ?? DEFAULT_ETCD3_HOST;
  const list = (Array.isArray(raw) ? raw : raw.split(','))
    .map((h) => h.trim().replace(/^'(.*)'$/, '$1').replace(/^https?:\/\//, '').replace(/\/+$/, ''))
    .filter((h) => h !== '');
  if (list.length === 0) throw new DcsError('etcd3: hosts is empty');
  for (const h of list) {
    if (!/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]/]+):\d{1,5}$/.test(h)) throw new DcsError(`etcd3: expected host:port, got ${JSON.stringify(h)}`);
  }
  return [...new Set(list)];
}

export async function etcd3Connection(section: Etcd3Section): Promise<Etcd3Connection> {
  const unsupported = UNSUPPORTED.filter((k) => section[k] !== undefined);
  if (unsupported.length > 0) throw new DcsError(`etcd3: ${unsupported.join(', ')} not supported; list the members in hosts`);
  const endpoints = etcd3Endpoints(section);
  const tls = section.cacert !== undefined || section.cert !== undefined;
  const protocol = section.protocol ?? (tls ? 'https' : 'http');
  if (protocol !== 'http' && protocol !== 'https') throw new DcsError(`etcd3.protocol must be http or https, got ${JSON.stringify(protocol)}`);
  if ((section.cert === undefined) !== (section.key === undefined)) throw new DcsError('etcd3: cert and key go together');
  const clientOptions: Etcd3Connection['clientOptions'] = { hosts: endpoints.map((e) => `${protocol}://${e}`) };
  if (protocol === 'https' && tls) {
    const [ca, cert, key] = await Promise.all([readPem(section, 'cacert'), readPem(section, 'cert'), readPem(section, 'key')]);
    // Without cacert gRPC verifies against the system roots (null is what createSsl takes for that).
    clientOptions.credentials = { rootCertificate: (ca ?? null) as Buffer, privateKey: key, certChain: cert };
  }
  if (section.username !== undefined) {
    clientOptions.auth = { username: section.username, password: section.password ?? '' };
  }
  return { endpoints, clientOptions };
}

async function readPem(section: Etcd3Section, field: 'cacert' | 'cert' | 'key'): Promise<Buffer | undefined> {
  const file = section[field];
  if (file === undefined) return undefined;
  try {
    return await readFile(file);
  } catch (err) {
    throw new DcsError(`etcd3.${field}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

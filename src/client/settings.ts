/**
 * Where the CLI finds the agents and how it talks to them, from the flags and the config file.
 *
 * The file is read leniently: an operator's workstation may only have the `scope`, `restapi` or
 * `ctl` sections (Patroni's patronictl.yaml), so only the keys used here are checked, not the
 * agent's whole schema. Environment overrides (HACTL_CTL_USERNAME, …) apply as for the agent.
 *
 * Agents, in order: `--api` URLs if given; else `ctl.api_urls` (a hactl extension listing several
 * agents) and this node's `restapi.connect_address`. Credentials: `ctl.authentication`, falling back
 * to `restapi.authentication`; CA: `--cacert`, `ctl.cacert`, then `restapi.cafile` (Patroni's order).
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../config/errors.js';
import { envOverrides } from '../config/env.js';
import { ClientSettingsError } from './errors.js';
import type { Credentials, TlsSettings } from '../protocol/index.js';

export const DEFAULT_CONFIG_FILE = '/etc/ha.yml';

export interface ClientFlags {
  config?: string;
  /** Comma-separated agent URLs (or host:port, http assumed). */
  api?: string;
  cacert?: string;
  certfile?: string;
  keyfile?: string;
  insecure?: boolean;
}

export interface ClientSettings {
  /** Base URLs without a trailing slash, in the order to try them. */
  agents: string[];
  /** `scope` from the file; null without a file. */
  scope: string | null;
  namespace: string;
  auth?: Credentials;
  tls: TlsSettings;
  /** The file the settings came from, null when none was read. */
  configFile: string | null;
  /** The Raft store's addresses and password (`hactl remove` writes there). */
  raft: { addrs: string[]; password: string | null };
}

type Doc = Record<string, unknown>;

export async function resolveClientSettings(flags: ClientFlags, env: NodeJS.ProcessEnv = process.env): Promise<ClientSettings> {
  // patronictl's variable too, so an operator's shell profile keeps working.
  const explicit = flags.config ?? (env.HACTL_CONFIG || env.PATRONICTL_CONFIG_FILE || undefined);
  const file = explicit ?? DEFAULT_CONFIG_FILE;
  const doc = await readConfigDoc(file, explicit !== undefined, env);
  const section = (name: string): Doc => asMap(doc?.[name], `${file}: ${name}`) ?? {};
  const restapi = section('restapi');
  const ctl = section('ctl');
  const raft = section('raft');
  const where = (key: string) => `${file}: ${key}`;

  const agents: string[] = [];
  if (flags.api) {
    agents.push(...flags.api.split(',').map((s) => s.trim()).filter(Boolean).map((a) => normalizeAgentUrl(a, false)));
  } else if (doc) {
    const https = typeof restapi.certfile === 'string' && restapi.certfile !== '';
    for (const u of asStringList(ctl.api_urls, where('ctl.api_urls'))) agents.push(normalizeAgentUrl(u, https));
    const own = asString(restapi.connect_address, where('restapi.connect_address'));
    if (own) agents.push(normalizeAgentUrl(own, https));
  }

  const authSection = asMap(ctl.authentication, where('ctl.authentication')) ?? asMap(restapi.authentication, where('restapi.authentication'));
  let auth: Credentials | undefined;
  if (authSection) {
    const username = asString(authSection.username, where('authentication.username'));
    if (username) auth = { username, password: asString(authSection.password, where('authentication.password')) ?? undefined };
  }

  const caFile = flags.cacert ?? asString(ctl.cacert, where('ctl.cacert')) ?? asString(restapi.cafile, where('restapi.cafile'));
  const certFile = flags.certfile ?? asString(ctl.certfile, where('ctl.certfile'));
  const keyFile = flags.keyfile ?? asString(ctl.keyfile, where('ctl.keyfile'));
  const tls: TlsSettings = {
    insecure: flags.insecure === true || ctl.insecure === true,
    ca: caFile ? await readPem(caFile, 'CA file') : undefined,
    cert: certFile ? await readPem(certFile, 'client certificate') : undefined,
    key: keyFile ? await readPem(keyFile, 'client key') : undefined,
    passphrase: asString(ctl.keyfile_password, where('ctl.keyfile_password')) ?? undefined,
  };

  const raftAddrs = [asString(raft.self_addr, where('raft.self_addr')), ...asStringList(raft.partner_addrs, where('raft.partner_addrs'))].filter(
    (a): a is string => typeof a === 'string' && a !== '',
  );
  return {
    agents: [...new Set(agents)],
    scope: doc ? asString(doc.scope, where('scope')) : null,
    namespace: (doc ? asString(doc.namespace, where('namespace')) : null) ?? '/service',
    auth,
    tls,
    configFile: doc ? file : null,
    raft: { addrs: raftAddrs, password: asString(raft.password, where('raft.password')) },
  };
}

/** `host:port` → `http://host:port`; a URL keeps its scheme; any path or trailing slash is dropped. */
export function normalizeAgentUrl(address: string, https: boolean): string {
  const withScheme = /^[a-z]+:\/\//i.test(address) ? address : `${https ? 'https' : 'http'}://${address}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ClientSettingsError(`invalid agent address ${JSON.stringify(address)}: expected host:port or http(s)://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ClientSettingsError(`invalid agent address ${address}: only http and https are supported`);
  return `${url.protocol}//${url.host}`;
}

async function readConfigDoc(file: string, explicit: boolean, env: NodeJS.ProcessEnv): Promise<Doc | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // The default file is optional: --api alone is enough.
    if (!explicit && code === 'ENOENT') return null;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new ConfigError(`cannot read configuration file: ${why} (check -c/--config, HACTL_CONFIG or PATRONICTL_CONFIG_FILE)`, file);
  }
  const { parse } = await import('yaml');
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    const e = err as Error & { linePos?: { line: number; col: number }[] };
    const pos = e.linePos?.[0];
    throw new ConfigError(e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''), pos ? `${file}:${pos.line}:${pos.col}` : file);
  }
  const doc = asMap(raw ?? {}, file) ?? {};
  for (const o of envOverrides(env)) setPath(doc, o.path, o.value);
  return doc;
}

async function readPem(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new ClientSettingsError(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

function asMap(v: unknown, where: string): Doc | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError('expected a mapping', where);
  return v as Doc;
}

function asString(v: unknown, where: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') throw new ConfigError('expected a string', where);
  return v;
}

function asStringList(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter(Boolean);
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new ConfigError('expected a list of strings', where);
  return v as string[];
}

function setPath(target: Doc, path: string[], value: unknown): void {
  let obj = target;
  for (const key of path.slice(0, -1)) {
    const next = obj[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) obj[key] = {};
    obj = obj[key] as Doc;
  }
  obj[path[path.length - 1]!] = value;
}

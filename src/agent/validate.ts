/**
 * `hactl agent --validate-config`: everything that can be checked without starting — the schema
 * (file:line:col from the config layer), the timing rule, the store section (raft or etcd3), the
 * PostgreSQL binaries in bin_dir and the listen ports. Each problem is one `file:line:col: message`
 * line, as a compiler prints them.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigErrors, ConfigError, loadConfigFile, timingViolation, type HactlConfig } from '../config/index.js';
import { etcd3Connection } from '../dcs/etcd3-section.js';
import { findBinaries, resolveOsUser } from '../postgres/index.js';
import { unsafeAccessVerdict } from './restapi-settings.js';

export interface ValidationResult {
  problems: string[];
  /** Keys accepted but not acted on, unknown keys, contradictory tags: `file:line:col: message`, exit code unaffected. */
  warnings: string[];
  /** The loaded config when the schema accepted it. */
  config: HactlConfig | null;
}

/** `file:line:col` of the deepest existing node on `path` (the file alone when not found). */
async function locator(file: string): Promise<(path: readonly string[]) => string> {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch {
    // Unreadable here: the loader has already reported why; locations fall back to the file name.
    return () => file;
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  return (path) => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node?.range) {
        const p = lines.linePos(node.range[0]);
        return `${file}:${p.line}:${p.col}`;
      }
    }
    return `${file}:1:1`;
  };
}

/** Resolves when host:port can be bound now (EADDRNOTAVAIL etc. count as free: the OS will say at start). */
function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRINUSE'));
    server.listen({ host: host === '*' || host === '' ? '0.0.0.0' : host, port, exclusive: true }, () => server.close(() => resolve(false)));
  });
}

function splitListen(listen: string): { hosts: string[]; port: number } {
  const colon = listen.lastIndexOf(':');
  const hosts = listen
    .slice(0, colon)
    .split(',')
    .map((h) => h.trim().replace(/^\[(.*)\]$/, '$1'));
  return { hosts: hosts.length ? hosts : ['0.0.0.0'], port: Number(listen.slice(colon + 1)) };
}

export async function validateConfig(file: string, env: NodeJS.ProcessEnv, options: { ignoreListenPort?: boolean } = {}): Promise<ValidationResult> {
  let config: HactlConfig;
  let warnings: string[];
  try {
    const loaded = await loadConfigFile(file, env);
    config = loaded.config;
    // The timing rule is reported below as a problem, with its place in the file.
    warnings = loaded.warnings.filter((w) => !w.startsWith('bootstrap.dcs: '));
  } catch (err) {
    if (err instanceof ConfigErrors) return { problems: err.problems.map((p) => p.message), warnings: [], config: null };
    if (err instanceof ConfigError) return { problems: [err.message], warnings: [], config: null };
    throw err;
  }
  const at = await locator(file);
  const problems: string[] = [];
  const access = unsafeAccessVerdict(config);
  if (access.refuse) problems.push(`${at(['restapi', 'listen'])}: ${access.refuse}`);
  if (access.warn) warnings.push(`${at(['restapi'])}: ${access.warn}`);
  const timing = timingViolation(config.bootstrap.dcs);
  if (timing) problems.push(`${at(['bootstrap', 'dcs'])}: bootstrap.dcs: ${timing}`);
  if (config.etcd3) {
    // What the agent would refuse at start: unsupported keys, cert without key, unreadable PEM files.
    await etcd3Connection(config.etcd3).catch((err: unknown) => problems.push(`${at(['etcd3'])}: ${err instanceof Error ? err.message : String(err)}`));
  } else if (!config.raft) problems.push(`${at([])}: a raft: section (self_addr, partner_addrs) or an etcd3: section is required`);
  else if (!config.raft.self_addr) problems.push(`${at(['raft'])}: raft.self_addr is required`);

  try {
    const user = await resolveOsUser(config.postgresql.os_user);
    await findBinaries({ bin_dir: config.postgresql.bin_dir, user });
  } catch (err) {
    const where = config.postgresql.bin_dir !== undefined ? at(['postgresql', 'bin_dir']) : at(['postgresql']);
    problems.push(`${where}: ${err instanceof Error ? err.message : String(err)}`);
  }

  if (!options.ignoreListenPort) {
    const listens: Array<{ path: string[]; value: string | undefined }> = [
      { path: ['restapi', 'listen'], value: config.restapi.listen },
      { path: ['postgresql', 'listen'], value: config.postgresql.listen },
      { path: ['raft', config.raft?.bind_addr ? 'bind_addr' : 'self_addr'], value: config.raft?.bind_addr ?? config.raft?.self_addr },
    ];
    for (const { path, value } of listens) {
      if (!value) continue;
      const { hosts, port } = splitListen(value);
      for (const host of hosts) {
        if (await portInUse(host, port)) problems.push(`${at(path)}: ${path.join('.')}: Port ${port} is already in use.`);
      }
    }
  }
  return { problems, warnings, config };
}

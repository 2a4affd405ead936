/**
 * Load the YAML configuration: syntax errors and schema violations come back as one ConfigError per
 * problem with `file:line:col`, the environment overrides applied on top (errors then name the variable).
 */
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { ZodIssue } from 'zod';
import { ConfigError } from './errors.js';
import { envReport, type EnvOverride } from './env.js';
import { contradictoryTags, reportKeys } from './key-report.js';
import { configSchema, type HactlConfig } from './schema.js';
import { timingViolation } from './timing.js';

export interface LoadedConfig {
  config: HactlConfig;
  file: string;
  /** Problems that do not stop the agent (e.g. the timing rule, adjusted at run time). */
  warnings: string[];
}

/** All problems in one go, so a user fixes the file in one edit; `message` shows the first. */
export class ConfigErrors extends ConfigError {
  constructor(readonly problems: ConfigError[]) {
    super(problems.map((p) => p.message).join('\n'));
    this.name = 'ConfigErrors';
  }
}

export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(err);
    throw new ConfigError(`cannot read configuration file: ${why}`, file);
  }
  return parseConfig(text, file, env);
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = {}): LoadedConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const where = (offset: number): string => {
    const p = lines.linePos(offset);
    return `${file}:${p.line}:${p.col}`;
  };
  if (doc.errors.length > 0) {
    throw new ConfigErrors(doc.errors.map((e) => new ConfigError(firstLine(e.message), where(e.pos[0]))));
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || Object.keys(raw).length === 0) {
    throw new ConfigError('configuration is empty or not a mapping', `${file}:1:1`);
  }
  const keys = reportKeys(doc, where);
  if (keys.errors.length > 0) throw new ConfigErrors(keys.errors);
  dropNulls(raw as Record<string, unknown>);
  const fromEnv = envReport(env);
  const overrides = fromEnv.overrides;
  for (const o of overrides) setPath(raw as Record<string, unknown>, o.path, o.value);

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigErrors(parsed.error.issues.map((i) => issueError(i, doc, overrides, file, where)));
  }
  const config = parsed.data;
  const warnings: string[] = [...keys.warnings, ...fromEnv.warnings];
  for (const c of contradictoryTags(config.tags)) {
    const tags = doc.getIn(['tags'], true);
    const pair = isMap(tags) ? tags.items.find((p) => isScalar(p.key) && p.key.value === c.ignored) : undefined;
    const range = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
    warnings.push(`${range ? where(range[0]) : file}: ${c.message}`);
    // As Patroni: the boolean tag is the source of truth, as if the priority were not given.
    delete (config.tags as Record<string, unknown>)[c.ignored];
  }
  const violation = timingViolation(config.bootstrap.dcs);
  if (violation) warnings.push(`bootstrap.dcs: ${violation}`);
  return { config, file, warnings };
}

function issueError(
  issue: ZodIssue,
  doc: Document,
  overrides: EnvOverride[],
  file: string,
  where: (offset: number) => string,
): ConfigError {
  const path = issue.path.map(String);
  const dotted = path.join('.');
  const fromEnv = overrides.find((o) => path.join('.').startsWith(o.path.join('.')));
  const message = issue.code === 'invalid_type' && issue.received === 'undefined'
    ? `${dotted} is required`
    : `${dotted}: ${issue.message}`;
  if (fromEnv) return new ConfigError(message, fromEnv.variable);
  // Point at the deepest node that exists: for a missing key, its parent mapping.
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(issue.path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return new ConfigError(message, where(node.range[0]));
  }
  return new ConfigError(message, file);
}

/**
 * `key:` with nothing after it (or only comments, as in Patroni's example files' `parameters:`) is YAML
 * null; Patroni reads it as "not set", and so do we.
 */
function dropNulls(map: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(map)) {
    if (v === null) delete map[k];
    else if (typeof v === 'object' && !Array.isArray(v)) dropNulls(v as Record<string, unknown>);
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let obj = target;
  for (const key of path.slice(0, -1)) {
    const next = obj[key];
    if (typeof next !== 'object' || next === null) obj[key] = {};
    obj = obj[key] as Record<string, unknown>;
  }
  obj[path[path.length - 1]!] = value;
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

/**
 * The node:http plumbing of the REST server: reading a bounded JSON body, writing text/JSON/
 * status-only answers, Basic authentication. Every failure becomes an `ApiError` with a one-line
 * reason; nothing here throws anything else at the dispatcher.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './types.js';

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Reads the whole body, refusing more than `maxBytes` (413) without buffering it. */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    throw new ApiError(413, `request body too large: ${declared} bytes, the limit is ${maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new ApiError(413, `request body too large: more than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Patroni's _read_json_content: a required body must be declared (411) and be a non-empty JSON
 * object (400); an optional one may be absent or empty (→ `{}`).
 */
export async function readJsonObject(
  req: IncomingMessage,
  options: { optional: boolean; maxBytes: number },
): Promise<Record<string, unknown>> {
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  if (!hasBody) {
    if (options.optional) return {};
    throw new ApiError(411, 'a JSON object body is required (Content-Length missing)');
  }
  const raw = (await readBody(req, options.maxBytes)).toString('utf8');
  if (raw.trim() === '') {
    if (options.optional) return {};
    throw new ApiError(400, 'a JSON object body is required, the body is empty');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new ApiError(400, `request body is not valid JSON: ${oneLine((error as Error).message)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ApiError(400, `request body must be a JSON object, not ${Array.isArray(parsed) ? 'an array' : typeof parsed}`);
  }
  const object = parsed as Record<string, unknown>;
  if (!options.optional && Object.keys(object).length === 0) throw new ApiError(400, 'request body is an empty JSON object');
  return object;
}

export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').slice(0, 500);
}

export interface ResponseContext {
  headers: Record<string, string>;
}

/** Action answers: a short text, as Patroni (which labels it text/html; we say what it is). */
export function sendText(res: ServerResponse, ctx: ResponseContext, status: number, text: string, extra: Record<string, string> = {}): void {
  const body = Buffer.from(text, 'utf8');
  res.writeHead(status, {
    ...ctx.headers,
    ...extra,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(body.length),
  });
  res.end(body);
}

export function sendJson(res: ServerResponse, ctx: ResponseContext, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.writeHead(status, { ...ctx.headers, 'Content-Type': 'application/json', 'Content-Length': String(body.length) });
  res.end(body);
}

export function sendMetrics(res: ServerResponse, ctx: ResponseContext, text: string): void {
  const body = Buffer.from(text, 'utf8');
  res.writeHead(200, {
    ...ctx.headers,
    'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
    'Content-Length': String(body.length),
  });
  res.end(body);
}

/** HEAD/OPTIONS health checks and /liveness: the status line only (HAProxy reads nothing else). */
export function sendStatusOnly(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'Content-Length': '0' });
  res.end();
}

/** Compares the credentials of a Basic `Authorization` header in constant time (both sides hashed first). */
export class BasicAuth {
  private readonly expected: Buffer;

  constructor(username: string, password: string) {
    this.expected = createHash('sha256').update(`${username}:${password}`, 'utf8').digest();
  }

  /** null when allowed; otherwise Patroni's 401 text. */
  check(header: string | undefined): string | null {
    if (header === undefined) return 'no auth header received';
    const match = /^Basic\s+(\S+)\s*$/i.exec(header);
    if (!match) return 'not authenticated';
    const given = createHash('sha256').update(Buffer.from(match[1]!, 'base64').toString('utf8'), 'utf8').digest();
    return timingSafeEqual(given, this.expected) ? null : 'not authenticated';
  }
}

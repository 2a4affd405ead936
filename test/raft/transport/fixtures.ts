/** Shared fixtures of the transport tests: free ports, a recording logger, waiting for a condition. */
import { freePort } from '../../helpers/net.js';
import type { Logger } from '../../../src/raft/kv/types.js';
import type { Message } from '../../../src/raft/core/types.js';
import { TcpTransport } from '../../../src/raft/transport/index.js';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

export interface RecordingLogger extends Logger {
  lines: LogLine[];
  /** Resolves with the first line (already logged or future) matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<LogLine>;
}

export function recordingLogger(echo = process.env.HACTL_TEST_LOG === '1'): RecordingLogger {
  const lines: LogLine[] = [];
  const log =
    (level: LogLine['level']) =>
    (message: string): void => {
      lines.push({ level, message });
      if (echo) console.error(`[${level}] ${message}`);
    };
  return {
    lines,
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    waitFor: async (pattern, timeoutMs = 5000) => {
      let found: LogLine | undefined;
      await waitUntil(() => (found = lines.find((l) => pattern.test(l.message))) !== undefined, timeoutMs, `a log line matching ${pattern}`);
      return found!;
    },
  };
}

export async function waitUntil(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// Peers need their address before they listen: a port reserved for this process.
export { freePort };

export interface TestNode {
  addr: string;
  transport: TcpTransport;
  logger: RecordingLogger;
  received: Message[];
}

export async function startNode(
  opts: { password?: string | null; addr?: string; maxFrameBytes?: number; maxQueuedMessages?: number; peerSilenceMs?: number } = {},
): Promise<TestNode> {
  const addr = opts.addr ?? `127.0.0.1:${await freePort()}`;
  const logger = recordingLogger();
  const transport = new TcpTransport({
    selfAddr: addr,
    password: opts.password ?? null,
    // One salt for every node of this process: the (deliberately slow) key is derived once.
    clusterName: 'transport-tests',
    maxFrameBytes: opts.maxFrameBytes,
    maxQueuedMessages: opts.maxQueuedMessages,
    peerSilenceMs: opts.peerSilenceMs,
    logger,
  });
  const received: Message[] = [];
  transport.onMessage((m) => received.push(m));
  transport.onRequest(async (req) => ({ echo: req, from: addr }));
  await transport.listen();
  return { addr, transport, logger, received };
}

export function heartbeat(from: string, to: string, term = 1, commit = 0): Message {
  return { type: 'Append', from, to, term, prevLogIndex: 0, prevLogTerm: 0, entries: [], commit, readRound: 0 };
}

/**
 * Transport micro-benchmark: Append messages of 10 × 256-byte entries from a leader transport to a
 * follower transport in another process, the follower answering each with an AppendResp (as Raft
 * does), at most WINDOW Appends unacknowledged (pipelining). Without and with a password.
 *
 *   node --import tsx bench/raft/transport-bench.ts [--seconds 5] [--window 256]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Entry, Message } from '../../src/raft/core/types.js';
import { TcpTransport } from '../../src/raft/transport/index.js';

const ENTRIES_PER_APPEND = 10;
const ENTRY_BYTES = 256;

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: (m: string) => console.error(m) };

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen({ host: '127.0.0.1', port: 0 }, () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

/** Child process: the follower. Acknowledges every Append. */
async function follower(): Promise<void> {
  const self = process.env.BENCH_SELF!;
  const transport = new TcpTransport({ selfAddr: self, password: process.env.BENCH_PASSWORD || null, logger: quiet });
  transport.onMessage((m) => {
    if (m.type !== 'Append') return;
    const last = m.prevLogIndex + m.entries.length;
    transport.send({ type: 'AppendResp', from: self, to: m.from, term: m.term, success: true, matchIndex: last, readRound: 0 });
  });
  await transport.listen();
  process.send!('ready');
  process.on('message', () => void transport.close().then(() => process.exit(0)));
}

async function run(password: string | null, seconds: number, window: number): Promise<{ appendsPerSecond: number; mbPerSecond: number }> {
  const leaderAddr = `127.0.0.1:${await freePort()}`;
  const followerAddr = `127.0.0.1:${await freePort()}`;
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--follower'], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_SELF: followerAddr, BENCH_PASSWORD: password ?? '' },
  });
  await new Promise<void>((resolve) => child.once('message', () => resolve()));

  const leader = new TcpTransport({ selfAddr: leaderAddr, password, logger: quiet });
  let acked = 0;
  let sent = 0;
  let nextIndex = 1;
  const data = new Uint8Array(ENTRY_BYTES).fill(0x5a);
  const append = (): Message => {
    const entries: Entry[] = [];
    for (let i = 0; i < ENTRIES_PER_APPEND; i++) entries.push({ index: nextIndex + i, term: 1, type: 'normal', data });
    const msg: Message = { type: 'Append', from: leaderAddr, to: followerAddr, term: 1, prevLogIndex: nextIndex - 1, prevLogTerm: nextIndex > 1 ? 1 : 0, entries, commit: nextIndex - 1, readRound: 0 };
    nextIndex += ENTRIES_PER_APPEND;
    return msg;
  };
  const pump = (): void => {
    while (sent - acked < window) {
      leader.send(append());
      sent++;
    }
  };
  leader.onMessage((m) => {
    if (m.type === 'AppendResp') {
      acked++;
      pump();
    }
  });
  await leader.listen();
  pump();
  await new Promise((r) => setTimeout(r, 1000)); // warm-up: connect, JIT
  const startAcked = acked;
  const start = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsedSeconds = Number(process.hrtime.bigint() - start) / 1e9;
  const appends = acked - startAcked;
  child.send('stop');
  await leader.close();
  await new Promise((r) => child.once('exit', r));
  const appendsPerSecond = appends / elapsedSeconds;
  return { appendsPerSecond, mbPerSecond: (appendsPerSecond * ENTRIES_PER_APPEND * ENTRY_BYTES) / 1e6 };
}

async function main(): Promise<void> {
  const seconds = arg('seconds', 5);
  const window = arg('window', 256);
  console.log(`transport bench: Append of ${ENTRIES_PER_APPEND}×${ENTRY_BYTES} B, follower in another process acks each, window ${window}, ${seconds} s`);
  for (const password of [null, 'bench password']) {
    const r = await run(password, seconds, window);
    const mode = password ? 'password (AES-256-GCM)' : 'no password (plaintext)';
    console.log(
      `${mode.padEnd(26)} ${Math.round(r.appendsPerSecond).toLocaleString('en-US').padStart(8)} Append/s  ` +
        `${Math.round(r.appendsPerSecond * ENTRIES_PER_APPEND).toLocaleString('en-US').padStart(9)} entries/s  ${r.mbPerSecond.toFixed(1)} MB/s payload`,
    );
  }
}

if (process.argv.includes('--follower')) void follower();
else void main();

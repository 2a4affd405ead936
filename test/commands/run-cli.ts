// Runs the built CLI (`node bin/run.js …`, so `npm run build` first) as a child process without a
// terminal: stdin is a pipe (closed, or fed `input`), stdout/stderr captured. Bounded by a timeout so
// a command that wrongly waits for an answer fails the test instead of hanging it. The bound is a
// liveness bound (a hang never ends, so any bound catches it): generous, because a loaded machine
// takes seconds just to start node and oclif, and "answered quickly" is not what these tests assert.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LIVENESS_MS } from '../helpers/wait.js';

export const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      // A predictable environment: no config from the host, no colours.
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', HACTL_CONFIG: '', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hactl ${args.join(' ')} did not finish within ${opts.timeoutMs ?? LIVENESS_MS} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? LIVENESS_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
    child.stdin.end(opts.input ?? '');
  });
}

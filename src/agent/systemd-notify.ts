/**
 * systemd readiness (`Type=notify`): when NOTIFY_SOCKET is set, tell systemd READY=1 once the agent
 * serves its REST API and runs its HA loop, and STOPPING=1 when it shuts down. The message is a unix
 * datagram, which Node 20 cannot send (node:dgram has UDP only, and hactl takes no native addon for
 * this), so the `systemd-notify` binary sends it on the agent's behalf with `--pid` naming the agent;
 * the unit needs `NotifyAccess=all` for systemd to accept it from a child.
 */
import { execFile } from 'node:child_process';

export interface NotifyResult {
  sent: boolean;
  /** Why nothing was sent, or why sending failed. */
  reason?: string;
}

export type ExecFile = (file: string, args: string[], env: NodeJS.ProcessEnv) => Promise<void>;

const run: ExecFile = (file, args, env) =>
  new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: 5000 }, (err, _stdout, stderr) => (err ? reject(new Error(stderr.trim() || err.message)) : resolve()));
  });

/** Sends `assignments` (e.g. `{READY: '1', STATUS: 'running'}`) for this process; a no-op without NOTIFY_SOCKET. */
export async function notifySystemd(
  assignments: Record<string, string>,
  env: NodeJS.ProcessEnv = process.env,
  options: { pid?: number; binary?: string; exec?: ExecFile } = {},
): Promise<NotifyResult> {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return { sent: false, reason: 'NOTIFY_SOCKET is not set' };
  // --no-block: no BARRIER round trip after the message (systemd-notify would wait for it and fail if the reader is gone).
  const args = ['--no-block', `--pid=${options.pid ?? process.pid}`, ...Object.entries(assignments).map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`)];
  // Only what systemd-notify needs: the agent's environment holds secrets (HACTL_*_PASSWORD).
  const childEnv: NodeJS.ProcessEnv = { NOTIFY_SOCKET: socket, PATH: env.PATH ?? '/usr/bin:/bin' };
  try {
    await (options.exec ?? run)(options.binary ?? 'systemd-notify', args, childEnv);
    return { sent: true };
  } catch (err) {
    return { sent: false, reason: `systemd-notify failed: ${(err as Error).message}` };
  }
}

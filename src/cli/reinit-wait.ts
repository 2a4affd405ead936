/**
 * reinit --wait: poll each member's /patroni until it runs (and streams) again, with a progress
 * line. A member counts as done only after it was seen leaving `running` (or restarted), so a
 * poll that lands before the agent stopped PostgreSQL does not end the wait at once (patronictl's
 * race). No overall timeout: a large base backup takes as long as it takes; Ctrl-C stops waiting.
 */
import type { ClusterMember, MemberStatus } from '../client/index.js';
import type { ClusterCommand } from './cluster-command.js';
import { renderProgress, type BasebackupReport } from './progress.js';

const POLL_MS = 1_000;
const FAILED_STATES = new Set(['start failed', 'bootstrap failed', 'crashed', 'restart failed', 'creating replica failed', 'reinitialize failed']);

export async function waitForReinit(cmd: ClusterCommand, members: ClusterMember[]): Promise<void> {
  cmd.log(`Waiting for reinitialize to complete on: ${members.map((m) => m.name).join(', ')}`);
  const tty = process.stdout.isTTY === true;
  for (const m of members) {
    const t0 = Date.now();
    let seenDown = false;
    let firstStart: string | null | undefined;
    let lastLine = '';
    let lastSample: { at: number; bytes: number } | null = null;
    let rate: number | null = null;
    for (;;) {
      let status: MemberStatus | null = null;
      try {
        status = await cmd.client.memberStatus(m);
      } catch {
        seenDown = true; // the agent itself may restart its PostgreSQL slowly; keep polling
      }
      if (status) {
        if (firstStart === undefined) firstStart = status.postmaster_start_time ?? null;
        if (status.state !== 'running' || (status.postmaster_start_time ?? null) !== firstStart) seenDown = true;
        if (FAILED_STATES.has(status.state)) {
          if (tty) process.stdout.write('\n');
          throw new Error(`reinitialize of ${m.name} failed: member state is "${status.state}"`);
        }
        const bb = (status as MemberStatus & { basebackup?: BasebackupReport }).basebackup ?? null;
        if (bb && typeof bb.done_bytes === 'number') {
          const now = Date.now();
          if (lastSample && now > lastSample.at && bb.done_bytes >= lastSample.bytes) rate = ((bb.done_bytes - lastSample.bytes) * 1000) / (now - lastSample.at);
          lastSample = { at: now, bytes: bb.done_bytes };
        }
        const done = seenDown && status.state === 'running' && (status.replication_state === undefined || status.replication_state === 'streaming');
        const line = done ? `${m.name}: running${status.replication_state ? `, ${status.replication_state}` : ''}` : renderProgress({ member: m.name, state: status.state, elapsedMs: Date.now() - t0, basebackup: bb, rateBytesPerSecond: rate });
        if (tty) process.stdout.write(`\r\x1b[2K${line}`);
        else if (line.replace(/\(\d+ s\)$/, '') !== lastLine.replace(/\(\d+ s\)$/, '')) cmd.log(line);
        lastLine = line;
        if (done) break;
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    if (tty) process.stdout.write('\n');
    cmd.log(`Reinitialize is completed on: ${m.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
}

// The fence a test member's agent started: it lives outside the member's temp dir (fence.dir defaults
// to /run/hactl/fence/<data dir>-<hash> for root, src/agent/fence/settings.ts) and outlives a killed
// agent by design (an armed fence keeps enforcing, then watches for pg_ctl_timeout). Removing its
// directory while it still runs is a race: a log line written between rm's unlinks and its rmdir
// makes the rmdir fail (ENOTEMPTY), and a directory holding just "exiting: …" was left behind.
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { defaultFenceDir } from '../../src/agent/fence/settings.js';
import { pidGone } from './process.js';
import { LIVENESS_MS, waitUntil } from './wait.js';

/** Pids of fence processes whose configuration names files under `dir` (their one JSON argument holds the paths). */
export function fencesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('fence-process') && cmdline.includes(`${dir}/`)) pids.push(Number(entry));
    } catch {
      // Exited meanwhile: nothing to stop.
    }
  }
  return pids;
}

/** Stops the fences of `dataDir`'s member (call after its agent is dead) and removes their directory. */
export async function removeFenceOf(dataDir: string): Promise<void> {
  const dir = defaultFenceDir(dataDir);
  const pids = fencesUsing(dir);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Exited meanwhile (ESRCH): what we wanted.
    }
  }
  await waitUntil(() => pids.every(pidGone), { timeoutMs: LIVENESS_MS, what: `fences ${pids.join(', ')} of ${dir} to exit` });
  await rm(dir, { recursive: true, force: true, maxRetries: 5 });
}

/**
 * `hactl flush [CLUSTER] [MEMBER…] restart|switchover` (patronictl flush): drop scheduled restarts on
 * the members (DELETE /restart on each member's agent), or the scheduled switchover (DELETE /switchover,
 * the leader's agent first). Nothing scheduled is not an error, as in patronictl.
 */
import type { ClusterCommand } from './cluster-command.js';
import type { MemberFlags } from './member-flow.js';
import { splitClusterArg } from './member-flow.js';
import { selectMembers, type RoleFilter } from './member-select.js';
import { Aborted } from './prompts.js';

export const FLUSH_TARGETS = ['restart', 'switchover'] as const;

export async function runFlush(cmd: ClusterCommand, flags: Omit<MemberFlags, 'force'>, argv: string[]): Promise<void> {
  const client = await cmd.connect(flags);
  try {
    const target = argv.at(-1);
    if (target !== 'restart' && target !== 'switchover') throw new Aborted(`name what to flush last: ${FLUSH_TARGETS.join(' or ')}`);
    const snap = await client.cluster();
    cmd.warnUnreachable();
    const { cluster, members: names } = splitClusterArg(argv.slice(0, -1), snap.cluster.scope);
    cmd.checkClusterName(cluster, snap.cluster.scope);
    if (target === 'switchover') {
      if (names.length > 0) throw new Aborted('flush switchover takes no member names');
      if (!snap.cluster.scheduled_switchover) {
        cmd.log('No pending scheduled switchover');
        return;
      }
      const reply = await client.cancelSwitchover(client.targetsLeaderFirst(snap.cluster));
      cmd.log(`Success: ${reply.text}`);
      return;
    }
    const sel = selectMembers({ cluster: snap.cluster, names, role: (flags.role ?? 'any') as RoleFilter, pending: false });
    if ('error' in sel) throw new Aborted(sel.error);
    const failed: string[] = [];
    for (const m of sel.members) {
      if (!m.scheduled_restart) {
        cmd.log(`No scheduled restart for member ${m.name}`);
        continue;
      }
      try {
        await client.cancelRestart(m);
        cmd.log(`Success: flush scheduled restart for member ${m.name}`);
      } catch (err) {
        failed.push(m.name);
        process.stderr.write(`Failed: flush scheduled restart for member ${m.name}: ${(err as Error).message}\n`);
      }
    }
    if (failed.length > 0) throw new Error(`flush scheduled restart failed for ${failed.join(', ')}`);
  } catch (err) {
    cmd.fail(err);
  }
}

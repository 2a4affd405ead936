/**
 * pause/resume (maintenance mode): PATCH /config `{"pause": true}` / `{"pause": null}` on the
 * leader's agent first; with --wait, poll each member's /patroni until all report the new state
 * (within loop_wait + 1 s, as patronictl), and fail naming the members that did not.
 */
import type { ClusterCommand, ConnectionFlagValues } from './cluster-command.js';
import { Aborted } from './prompts.js';

export async function runPause(cmd: ClusterCommand, pause: boolean, flags: ConnectionFlagValues & { wait: boolean }, clusterArg?: string): Promise<void> {
  const client = await cmd.connect(flags);
  const action = pause ? 'pause' : 'resume';
  try {
    const snap = await client.cluster();
    cmd.checkClusterName(clusterArg, snap.cluster.scope);
    cmd.warnUnreachable();
    if (pause && snap.cluster.pause) throw new Aborted('Cluster is already paused');
    if (!pause && !snap.cluster.pause) throw new Aborted('Cluster is not paused');
    const config = await client.patchConfig({ pause: pause ? true : null }, client.targetsLeaderFirst(snap.cluster));
    cmd.log(`Success: cluster management is ${pause ? 'paused' : 'resumed'}`);
    if (!flags.wait) return;
    cmd.log(`'${action}' request sent, waiting until it is recognized by all nodes`);
    const loopWait = typeof config.loop_wait === 'number' ? config.loop_wait : 10;
    const deadline = Date.now() + (loopWait + 1) * 1000;
    let pending = snap.cluster.members.filter((m) => m.api_url);
    while (pending.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      const states = await Promise.all(pending.map((m) => client.memberStatus(m).then((s) => s.pause === true, () => null)));
      pending = pending.filter((_, i) => states[i] !== pause);
    }
    if (pending.length > 0) {
      throw new Error(`${pending.map((m) => m.name).join(', ')} member${pending.length > 1 ? 's' : ''} did not recognize the ${action} state after ${loopWait + 1} seconds`);
    }
  } catch (err) {
    cmd.fail(err);
  }
}

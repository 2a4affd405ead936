/**
 * Callbacks around the steps of the local PostgreSQL (local-postgres.ts): a LocalPostgres that runs
 * the real one and tells the CallbackRunner (../callbacks.ts) what happened, so the executor stays as
 * it is. Which callback a step fires follows Patroni's Postgresql class (postgresql/__init__.py):
 * - a start fires `on_start`, unless the role changed since the server last ran (a demoted primary
 *   starting as a replica): then `on_role_change` instead;
 * - a stop of a running server runs `before_stop` first (awaited), then fires `on_stop`;
 * - a restart runs `before_stop` and fires `on_restart` (no on_stop/on_start), a reload `on_reload`;
 * - a promotion runs `pre_promote` first — a non-zero exit throws PrePromoteFailed and nothing is
 *   promoted — then fires `on_role_change primary`;
 * - a primary whose start in place failed, giving the key up, fires `on_role_change demoted`
 *   (Patroni's post_recover); its next start, as a replica, fires `on_role_change replica`;
 * - a running standby that takes a standby cluster's leader key fires `on_role_change standby_leader`,
 *   and `on_role_change replica` when it follows a member again (Patroni's follow());
 * - bootstrap fires `on_start primary` once the new cluster runs; nothing fires during it;
 * - an agent started next to a running server fires `on_start` once, on the first observation
 *   (Patroni's `cb_called`), so a VIP follows a restarted agent too.
 */
import type { ServerState } from '../../postgres/index.js';
import type { CallbackRole, CallbackRunner } from '../callbacks.js';
import type { LocalPostgres } from './local-postgres.js';

/** pre_promote exited non-zero (or could not run): the member gives the leader key back. */
export class PrePromoteFailed extends Error {
  constructor(readonly exitCode: number | null) {
    super(`pre_promote script ${exitCode === null ? 'could not run' : `exited with ${exitCode}`}`);
    this.name = 'PrePromoteFailed';
  }
}

export function withCallbacks(inner: LocalPostgres, callbacks: CallbackRunner): LocalPostgres {
  /** The role callbacks report; null until known. */
  let role: CallbackRole | null = null;
  /** The role the next start gives the server (from the last configure). */
  let configured: CallbackRole | null = null;
  /** A callback about the server's life ran (Patroni's cb_called): later starts may be role changes. */
  let called = false;
  /** Steps that start or stop the server in flight: the first-observation on_start must not race them. */
  let busy = 0;

  const fire = (action: 'on_start' | 'on_stop' | 'on_restart' | 'on_role_change', as: CallbackRole) => {
    called = true;
    callbacks.call(action, as);
  };
  const roleFromDisk = async (): Promise<CallbackRole> => ((await inner.dataDirectory()).standbySignal ? 'replica' : 'primary');
  /** After the server started: on_role_change when its role differs from the one it last ran with, else on_start. */
  const started = async () => {
    const next = configured ?? (await roleFromDisk());
    const changed = called && role !== null && role !== next;
    role = next;
    fire(changed ? 'on_role_change' : 'on_start', next);
  };
  const running = async () => (await inner.postmaster()).state === 'running';
  const guarded = async <T>(step: () => Promise<T>): Promise<T> => {
    busy++;
    try {
      return await step();
    } finally {
      busy--;
    }
  };
  /** Steps that may start a stopped server (rewind, reinit, follow): fire on_start/on_role_change when they did. */
  const mayStart = <T>(step: () => Promise<T>) =>
    guarded(async () => {
      const before = await running();
      const result = await step();
      if (!before && (await running())) await started();
      return result;
    });

  return {
    ...inner,
    serverState: async (timeoutMs) => {
      const state = await inner.serverState(timeoutMs);
      if (!called && busy === 0) {
        role = roleOf(state.server);
        fire('on_start', role);
      }
      return state;
    },
    configure: async (target) => {
      configured = target.role === 'primary' ? 'primary' : 'replica';
      return inner.configure(target);
    },
    start: () =>
      guarded(async () => {
        await inner.start();
        await started();
      }),
    stop: (mode, boundMs) =>
      guarded(async () => {
        if (!(await running())) return inner.stop(mode, boundMs);
        await callbacks.script('before_stop');
        const result = await inner.stop(mode, boundMs);
        fire('on_stop', role ?? (await roleFromDisk()));
        return result;
      }),
    restart: (startTimeoutMs) =>
      guarded(async () => {
        if (await running()) await callbacks.script('before_stop');
        await inner.restart(startTimeoutMs);
        role = configured ?? role ?? (await roleFromDisk());
        fire('on_restart', role);
      }),
    reload: async () => {
      await inner.reload();
      callbacks.call('on_reload', role ?? (await roleFromDisk()));
    },
    promote: () =>
      guarded(async () => {
        // A script that could not run (code null) must not be taken for success.
        const pre = await callbacks.script('pre_promote');
        if (pre.configured && pre.code !== 0) throw new PrePromoteFailed(pre.code);
        const result = await inner.promote();
        if (result.promoted) {
          configured = 'primary';
          role = 'primary';
          fire('on_role_change', 'primary');
        }
        return result;
      }),
    follow: (target) =>
      guarded(async () => {
        const before = await running();
        const result = await inner.follow(target);
        if (!before || result.how === 'start') await started();
        else if (result.how === 'restart') {
          // A primary restarted as a standby changed role; a standby restarted for a new upstream did not.
          if (role === 'primary') {
            role = 'replica';
            fire('on_role_change', 'replica');
          } else fire('on_restart', role ?? 'replica');
        } else callbacks.call('on_reload', role ?? 'replica');
        return result;
      }),
    markDemoted: async () => {
      await inner.markDemoted();
      // Patroni reports it for a member that ran as the primary (or was starting as one), not twice.
      if (role === 'primary' || role === 'standby_leader' || (role === null && configured === 'primary')) {
        role = 'demoted';
        fire('on_role_change', 'demoted');
      }
    },
    markStandbyLeader: async (leader) => {
      await inner.markStandbyLeader(leader);
      // Only about a running server (a stopped one reports its role when it starts): Patroni's follow().
      if (leader === (role === 'standby_leader') || role === null || !(await running())) return;
      role = leader ? 'standby_leader' : 'replica';
      fire('on_role_change', role);
    },
    bootstrap: (options) =>
      guarded(async () => {
        await inner.bootstrap(options);
        configured = 'primary';
        role = 'primary';
        fire('on_start', 'primary');
      }),
    rewind: (source, followTarget) => mayStart(() => inner.rewind(source, followTarget)),
    reinit: (options) => mayStart(() => inner.reinit(options)),
    createReplica: (options) => guarded(() => inner.createReplica(options)),
  };
}

function roleOf(server: ServerState): CallbackRole {
  return server.inRecovery ? 'replica' : 'primary';
}

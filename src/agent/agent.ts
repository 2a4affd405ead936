/**
 * The `hactl agent` daemon's lifecycle: load the config, start the embedded Raft member, refuse a
 * duplicate name, serve the REST API, run the HA loop; SIGHUP reloads the local config; SIGTERM
 * shuts down the way Patroni does (a primary stops cleanly and releases the leader key so a
 * replica takes over at once; Raft leadership is handed over before the node stops).
 *
 * Exit codes: 0 after a clean shutdown, 1 for a fatal condition (bad config, duplicate name, a
 * port in use, failed bootstrap, …) with a CRITICAL line saying why.
 */
import { loadConfigFile, type DynamicConfig, type HactlConfig } from '../config/index.js';
import { DcsError, startRaftDcs, systemClock, type ClusterView, type Dcs, type DcsClock } from '../dcs/index.js';
import { createLineLogger, parseLogLevel, type LineLogger } from '../logger.js';
import { agentUids, createContext, whyNotPrivateOnceMade, type NodeRole, type PgContext } from '../postgres/index.js';
import { ApiServer } from './api/index.js';
import { AgentApiImpl } from './api-impl.js';
import { duplicateMemberProblem } from './duplicate.js';
import { fetchStatusJson } from './ha/inputs.js';
import { postFailsafeJson } from './ha/failsafe-round.js';
import { messageOf } from './error-text.js';
import type { LocalPostgres } from './ha/local-postgres.js';
import { primaryStopBoundMs } from './ha/config.js';
import { HaLoop } from './ha/loop.js';
import { standbyTarget } from './ha/member-addresses.js';
import type { TlsSettings } from '../protocol/index.js';
import { AgentLogOutput } from './log-settings.js';
import { notifySystemd } from './systemd-notify.js';
import { apiServerOptions, peerTls, unsafeAccessVerdict } from './restapi-settings.js';
import { postgresControl } from './ha/postgres-control.js';
import { withCallbacks } from './ha/postgres-callbacks.js';
import { CallbackRunner } from './callbacks.js';
import { killedLine, stopPrimary } from './ha/stop-primary.js';
import { bootstrapOptions, effectiveDynamic, postgresOptions, useSlots } from './settings.js';
import { Watchdog, watchdogSettings, watchdogStartupError } from './watchdog/index.js';
import { FenceController, fenceSettings, fenceTimingWarning, holderClockSource, holderNowMs } from './fence/index.js';

export interface AgentOptions {
  configPath: string;
  version: string;
  env?: NodeJS.ProcessEnv;
  /** Where log lines go (default stderr). */
  write?: (line: string) => void;
}

/** A fatal start-up problem: logged as CRITICAL, exit code 1. */
export class AgentStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentStartError';
  }
}

export class Agent {
  private config!: HactlConfig;
  private ctx!: PgContext;
  /**
   * The local PostgreSQL behind the loop's seam, on the current context (a reload replaces `ctx`),
   * with the configured callbacks around its steps.
   */
  private readonly postgres: LocalPostgres;
  private dcs: Dcs | null = null;
  private api: ApiServer | null = null;
  private apiImpl: AgentApiImpl | null = null;
  /** Whether the member key left by our previous run was looked at for a scheduled restart (restoreScheduledRestart). */
  private scheduledRestartRestored = false;
  private loop: HaLoop | null = null;
  private watchdog: Watchdog | null = null;
  private fence: FenceController | null = null;
  private appliedPostgresql = '';
  private readonly logOutput: AgentLogOutput;
  /** CA and client certificate for GET /patroni to the peers (reloaded with the file). */
  private peerTls: TlsSettings = {};
  private stopping: Promise<number> | null = null;
  private exitCode = 0;
  private resolveExit: (code: number) => void = () => {};
  readonly logger: LineLogger;

  constructor(private readonly options: AgentOptions) {
    const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
    this.logger = createLineLogger({ style: 'patroni', write });
    this.logOutput = new AgentLogOutput(this.logger, write);
    this.postgres = withCallbacks(postgresControl(() => this.ctx), new CallbackRunner({ ctx: () => this.ctx, logger: this.logger }));
  }

  /** Runs until SIGTERM/SIGINT or a fatal decision; resolves with the exit code. */
  async run(): Promise<number> {
    const exited = new Promise<number>((resolve) => (this.resolveExit = resolve));
    try {
      await this.start();
    } catch (err) {
      this.logger.critical(messageOf(err));
      await this.shutdown(1, { releaseLeader: false });
      return 1;
    }
    const onTerm = (sig: NodeJS.Signals) => {
      if (this.stopping) {
        this.logger.warn(`${sig} received again, exiting without a clean shutdown`);
        process.exit(1);
      }
      this.logger.info(`${sig} received, shutting down`);
      void this.shutdown(0, { releaseLeader: true });
    };
    const onHup = () => {
      this.logger.info('received SIGHUP, reloading the configuration');
      void this.reload().catch((err: unknown) => this.logger.error(`reload failed: ${messageOf(err)}`));
    };
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onTerm);
    process.on('SIGHUP', onHup);
    try {
      return await exited;
    } finally {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onTerm);
      process.off('SIGHUP', onHup);
    }
  }

  private async start(): Promise<void> {
    const loaded = await loadConfigFile(this.options.configPath, this.options.env ?? process.env);
    this.config = loaded.config;
    this.logger.setLevel(parseLogLevel(this.config.log.level));
    this.logOutput.apply(this.config.log);
    for (const w of loaded.warnings) this.logger.warn(w);
    const { config, logger } = this;
    if (!config.raft && !config.etcd3) {
      throw new AgentStartError(`${loaded.file}: a raft: section (self_addr, partner_addrs) or an etcd3: section is required`);
    }
    // Before anything starts: an agent open to the network without authentication must not come up.
    const access = unsafeAccessVerdict(config);
    if (access.refuse) throw new AgentStartError(`${loaded.file}: ${access.refuse}`);
    if (access.warn) logger.warn(access.warn);
    this.peerTls = peerTls(config);

    const dynamic = config.bootstrap.dcs;
    const wdSettings = watchdogSettings(config.watchdog, dynamic);
    const wdError = watchdogStartupError(wdSettings);
    if (wdError) throw new AgentStartError(wdError);
    this.watchdog = new Watchdog(wdSettings, { logger });

    this.ctx = await createContext(postgresOptions(config, dynamic));
    logger.info(`PostgreSQL ${this.ctx.binaries.version} from ${this.ctx.binaries.binDir}, data directory ${config.postgresql.data_dir}`);

    // The lease belief (the deadline each confirmed write returns) and the HA loop count on the holder
    // clock, which includes suspend (fence/holder-clock.ts, issue 13 item 4); the Raft leader that
    // expires keys keeps its monotonic clock.
    const holderDcsClock: DcsClock = { ...systemClock, nowMs: holderNowMs };
    const storeOptions = { memberName: config.name, retryTimeoutMs: dynamic.retry_timeout * 1000, clock: holderDcsClock };
    logger.info(`lease holder clock: ${holderClockSource()}`);
    if (config.raft) {
      await warnIfRaftDirShared(config.raft.data_dir, logger);
      this.dcs = await startRaftDcs(config.raft, config.scope, config.namespace, logger, storeOptions);
      logger.info(`raft: member ${config.raft.self_addr} started, partners ${(config.raft.partner_addrs ?? []).join(', ') || '(none)'}`);
    } else {
      // Loaded only when configured: the gRPC client costs ~120 ms of start-up.
      const { startEtcd3Dcs } = await import('../dcs/etcd3.js');
      this.dcs = await startEtcd3Dcs(config.etcd3!, config.scope, config.namespace, logger, storeOptions);
      logger.info('etcd3: using the etcd cluster as the cluster store');
    }

    await this.refuseDuplicate(this.dcs, dynamic);

    // The fence comes up before the loop can make this member a primary (issue 9).
    const fence = fenceSettings(config);
    this.fence = new FenceController({ settings: fence, logger, dataDir: () => this.ctx.options.data_dir, client: { forwardLine: (line) => this.logOutput.forward(line), store: config.raft ? 'raft' : 'etcd3' } });
    const fenceWarning = fence.mode === 'on' ? fenceTimingWarning(dynamic.ttl * 1000, dynamic.loop_wait * 1000, dynamic.retry_timeout * 1000, fence.safetyMarginMs) : null;
    if (fenceWarning) logger.warn(fenceWarning);
    await this.fence.start();

    this.loop = new HaLoop({
      monoNow: holderNowMs,
      dcs: this.dcs,
      postgres: this.postgres,
      local: () => this.config,
      bootstrapOptions: () => bootstrapOptions(this.config),
      logger,
      watchdog: this.watchdog,
      fence: this.fence,
      version: this.options.version,
      onFatal: (reason) => void this.shutdown(1, { releaseLeader: true, reason }),
      beforeCycle: async (dyn, view) => {
        this.restoreScheduledRestart(dyn, view);
        await this.applyDynamic(dyn, view);
      },
      // The peers' GET /patroni with the configured CA and client certificate (Patroni's PatroniRequest).
      fetchStatus: fetchStatusJson(() => this.peerTls),
      // POST /failsafe is an unsafe method: sent with the REST credentials (Patroni's ctl, else restapi, authentication).
      postFailsafe: postFailsafeJson(() => this.peerTls, () => this.config.ctl?.authentication ?? this.config.restapi.authentication),
      scheduledRestart: () => this.apiImpl?.scheduledRestart.record ?? null,
    });
    // A dead fence or a kill is handled at once, not after the rest of loop_wait.
    this.fence.wakeup = () => this.loop?.wakeup();
    this.apiImpl = new AgentApiImpl({
      loop: this.loop,
      dcs: this.dcs,
      local: () => this.config,
      watchdog: this.watchdog,
      fence: this.fence,
      version: this.options.version,
      logger,
      reload: () => this.reload(),
      readServer: async (timeoutMs) => (await this.postgres.serverState(timeoutMs)).server,
    });
    this.api = new ApiServer(this.apiImpl, apiServerOptions(config, this.apiRest()));
    const bound = await this.api.start();
    logger.info(`REST API listening on ${bound.url}`);
    this.loop.start();
    const notified = await notifySystemd({ READY: '1', STATUS: `serving ${bound.url}, HA loop running` }, this.options.env ?? process.env);
    if (!notified.sent && (this.options.env ?? process.env).NOTIFY_SOCKET) logger.warn(`could not tell systemd the agent is ready (Type=notify will time out): ${notified.reason}`);
  }

  /** What the REST server needs besides the config: version, error log, the members' API hosts (allowlist_include_members). */
  private apiRest(): { version: string; logError: (message: string, error: unknown) => void; memberApiHosts: () => string[] } {
    return {
      version: this.options.version,
      logError: (message, error) => this.logger.error(`${message}: ${messageOf(error)}`),
      memberApiHosts: () => (this.loop?.last?.view?.members ?? []).flatMap((m) => (m.apiUrl ? [new URL(m.apiUrl).hostname.replace(/^\[(.*)\]$/, '$1')] : [])),
    };
  }

  /** Waits (bounded) for the store to answer, then refuses a live namesake (duplicate.ts). */
  private async refuseDuplicate(dcs: Dcs, dynamic: DynamicConfig): Promise<void> {
    const deadline = Date.now() + dynamic.ttl * 2000;
    let view: ClusterView | null = null;
    while (Date.now() < deadline) {
      try {
        view = await dcs.getCluster();
        break;
      } catch (err) {
        if (!(err instanceof DcsError)) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    if (!view) {
      this.logger.warn('DCS is not accessible yet; starting without checking for a member of the same name');
      return;
    }
    const problem = await duplicateMemberProblem(view, this.config.name);
    if (problem) throw new AgentStartError(problem);
  }

  /**
   * A restart scheduled before this agent stopped still holds (hactl keeps it in the member key,
   * scheduled-restart.ts). Read from the first cluster view this run gets, which comes before its
   * first touch of the member key: a read at start-up can miss it while the Raft member catches up.
   */
  private restoreScheduledRestart(dynamic: DynamicConfig, view: ClusterView | null): void {
    if (this.scheduledRestartRestored || !view || !this.apiImpl) return;
    this.scheduledRestartRestored = true;
    const own = view.members.find((m) => m.name === this.config.name);
    const restored = this.apiImpl.scheduledRestart.restore(own?.extra?.scheduled_restart, dynamic.loop_wait);
    if (restored) this.logger.info(restored);
  }

  /**
   * Dynamic PostgreSQL settings live in the `config` key and can change at any time (PATCH
   * /config): rebuild the PostgreSQL options and apply them like a reload.
   */
  private async applyDynamic(dynamic: DynamicConfig, view: ClusterView | null): Promise<void> {
    // `slots` too: a permanent logical slot turns hot_standby_feedback on (settings.ts withSlotFeedback).
    const key = JSON.stringify([dynamic.postgresql, dynamic.slots ?? null, this.config.postgresql]);
    if (key === this.appliedPostgresql) return;
    const first = this.appliedPostgresql === '';
    this.appliedPostgresql = key;
    this.ctx = { ...this.ctx, options: postgresOptions(this.config, dynamic) };
    if (!first) await this.applyPostgresConfig(view);
  }

  /** Rewrites the managed files for the current role and reloads PostgreSQL; reports settings that need a restart. */
  private async applyPostgresConfig(view: ClusterView | null): Promise<void> {
    if ((await this.postgres.postmaster()).state !== 'running') return;
    const obs = this.loop?.last?.observation;
    const dynamic = this.loop?.last?.dynamic ?? this.config.bootstrap.dcs;
    let role: NodeRole = { role: 'primary' };
    if (obs?.state.role !== 'primary') {
      const upstream = this.loop?.executor.upstream ?? null;
      role = { role: 'replica', primary: standbyTarget(view, upstream, this.config.name, useSlots(dynamic)) };
    }
    const written = await this.postgres.configure(role);
    await this.postgres.reload();
    if (written.restartRequired.length > 0) {
      this.logger.info(`pending restart: ${written.restartRequired.join(', ')} changed and need a restart`);
    }
  }

  /** SIGHUP / POST /reload: the local config file again (name and scope cannot change). */
  async reload(): Promise<void> {
    const loaded = await loadConfigFile(this.options.configPath, this.options.env ?? process.env);
    const next = loaded.config;
    for (const w of loaded.warnings) this.logger.warn(w);
    if (next.name !== this.config.name || next.scope !== this.config.scope) {
      this.logger.warn('name and scope cannot change without a restart; keeping the old values');
      next.name = this.config.name;
      next.scope = this.config.scope;
    }
    const access = unsafeAccessVerdict(next);
    if (access.refuse) {
      this.logger.error(`not reloading: ${access.refuse}`);
      return;
    }
    if (access.warn && !unsafeAccessVerdict(this.config).warn) this.logger.warn(access.warn);
    this.peerTls = peerTls(next);
    this.config = next;
    this.logger.setLevel(parseLogLevel(next.log.level));
    this.logOutput.apply(next.log);
    await this.api?.reload(apiServerOptions(next, this.apiRest()));
    const view = this.loop?.last?.view ?? null;
    const { dynamic } = effectiveDynamic(next, view);
    this.appliedPostgresql = JSON.stringify([dynamic.postgresql, next.postgresql]);
    this.ctx = { ...this.ctx, options: postgresOptions(next, dynamic) };
    await this.applyPostgresConfig(view);
    this.loop?.wakeup();
    this.logger.info('configuration reloaded');
  }

  /**
   * Stops everything, in an order that lets a replica take over at once: the loop (no more
   * decisions), PostgreSQL (a primary with a clean checkpoint) while Raft leadership moves to a
   * peer, the REST API's listener (so peers do not see a live primary in it), then at once the
   * leader key with the shutdown checkpoint as last position; the fence, the API's open
   * connections and the Raft member after that, off the handover's critical path.
   */
  shutdown(code: number, options: { releaseLeader: boolean; reason?: string }): Promise<number> {
    this.stopping ??= (async () => {
      const { logger } = this;
      this.exitCode = code;
      void notifySystemd({ STOPPING: '1', STATUS: options.reason ?? 'shutting down' }, this.options.env ?? process.env);
      try {
        await this.loop?.stop();
      } catch (err) {
        logger.error(`stopping the HA loop: ${messageOf(err)}`);
      }
      const paused = this.loop?.last?.dynamic.pause ?? false;
      const holdsKey = (this.loop?.executor.self.leaseDeadlineMonoMs ?? null) !== null || this.loop?.last?.view?.leader?.name === this.config?.name;
      let checkpoint: bigint | null = null;
      // Whether PostgreSQL is known not to run as a primary any more (or pause says leave it): only then may the fence stand down.
      let pgSettled = paused;
      const release = !paused && holdsKey && options.releaseLeader && this.dcs !== null;
      // The store gets ready (Raft leadership moves) while PostgreSQL stops, so that the delete and
      // the replicas' race below meet a settled Raft leader rather than one stepping down inside close().
      const storePrepared = release && this.dcs ? this.dcs.prepareShutdown() : Promise.resolve();
      if (paused) {
        logger.info('Leader key is not deleted and Postgresql is not stopped due paused state');
      } else if (this.ctx && this.loop) {
        try {
          const running = (await this.postgres.postmaster()).state === 'running';
          // The key holder stops as for a switchover, so the release below carries the shutdown checkpoint.
          if (running && holdsKey) {
            const bound = this.loop.last ? primaryStopBoundMs(this.loop.last.dynamic) : null;
            const stopped = await stopPrimary(this.postgres, 'graceful', undefined, bound);
            if (stopped.killed) logger.warn(killedLine(bound));
            checkpoint = stopped.checkpointLsn;
          }
          else if (running) await this.postgres.stop('fast');
          if (running) logger.info('PostgreSQL stopped');
          pgSettled = true;
          // Already down: the position of its last shutdown, when the control file tells (else the last published status stands).
          // Only the key's release needs it; an empty data directory (failed bootstrap, no clone yet) has no control file.
          if (!running && release) checkpoint = await this.postgres.controlData().then((c) => c.checkpointLsn, () => null);
        } catch (err) {
          logger.error(`stopping PostgreSQL: ${messageOf(err)}`);
        }
      }
      this.watchdog?.disable();
      this.apiImpl?.dispose();
      // stop() closes the listener at once; open connections finish within its grace period.
      const apiStopped = this.api?.stop().catch(() => undefined);
      await storePrepared;
      if (release && this.dcs && pgSettled) {
        try {
          if (await this.dcs.deleteLeader(checkpoint)) logger.info('released the leader key');
        } catch (err) {
          logger.error(`could not release the leader key: ${messageOf(err)}`);
        }
      } else if (release) {
        // As Patroni: a primary that may still be running keeps the key until it expires.
        logger.error('PostgreSQL shutdown failed, leader key not removed');
      }
      if (pgSettled || !this.loop) {
        await this.fence?.stop().catch((err: unknown) => logger.error(`stopping the fence process: ${messageOf(err)}`));
      } else {
        logger.warn('fence: PostgreSQL could not be stopped; the fence process keeps enforcing the last lease deadline on its own');
        this.fence?.detach();
      }
      await apiStopped;
      await this.dcs?.close().catch((err: unknown) => logger.error(`stopping the Raft member: ${messageOf(err)}`));
      if (options.reason) logger.critical(options.reason);
      logger.info(`hactl agent stopped (exit code ${this.exitCode})`);
      this.logOutput.close();
      this.resolveExit(this.exitCode);
      return this.exitCode;
    })();
    return this.stopping;
  }
}

/** Entry point of `hactl agent`: run until stopped, resolve with the process exit code. */
export async function runAgent(options: AgentOptions): Promise<number> {
  return new Agent(options).run();
}

/**
 * Issue 14: a root agent writes the Raft journal by path; where another user (the PostgreSQL user, say) can
 * change a directory on that path, it could redirect those writes to any file. Said once at start.
 */
async function warnIfRaftDirShared(dataDir: string | undefined, logger: LineLogger): Promise<void> {
  if (!dataDir || process.getuid?.() !== 0) return;
  const why = await whyNotPrivateOnceMade(dataDir, agentUids());
  if (why) logger.warn(`raft.data_dir ${dataDir} is not private to root: ${why}; a local user could redirect the Raft journal's writes — put it under a directory only root can write (e.g. /var/lib/hactl/raft)`);
}

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
import { DcsError, RaftDcs, startRaftDcs, type ClusterView, type Dcs } from '../dcs/index.js';
import { createLineLogger, parseLogLevel, type LineLogger } from '../logger.js';
import {
  createContext,
  readControlData,
  reload as pgReload,
  stop as pgStop,
  getStatus,
  withConnection,
  writeConfiguration,
  type NodeRole,
  type PgContext,
} from '../postgres/index.js';
import { ApiServer } from './api/index.js';
import { AgentApiImpl } from './api-impl.js';
import { duplicateMemberProblem } from './duplicate.js';
import { HaLoop } from './ha/loop.js';
import { messageOf } from './ha/executor.js';
import { standbyTarget } from './ha/pg-actions.js';
import { bootstrapOptions, effectiveDynamic, postgresOptions, useSlots } from './settings.js';
import { Watchdog, watchdogSettings, watchdogStartupError } from './watchdog/index.js';
import { FenceController, fenceSettings, fenceTimingWarning } from './fence/index.js';

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
  private dcs: Dcs | null = null;
  private api: ApiServer | null = null;
  private apiImpl: AgentApiImpl | null = null;
  private loop: HaLoop | null = null;
  private watchdog: Watchdog | null = null;
  private fence: FenceController | null = null;
  private appliedPostgresql = '';
  private stopping: Promise<number> | null = null;
  private exitCode = 0;
  private resolveExit: (code: number) => void = () => {};
  readonly logger: LineLogger;

  constructor(private readonly options: AgentOptions) {
    this.logger = createLineLogger({ style: 'patroni', write: options.write });
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
    for (const w of loaded.warnings) this.logger.warn(w);
    const { config, logger } = this;
    if (!config.raft && !config.etcd3) {
      throw new AgentStartError(`${loaded.file}: a raft: section (self_addr, partner_addrs) or an etcd3: section is required`);
    }

    const dynamic = config.bootstrap.dcs;
    const wdSettings = watchdogSettings(config.watchdog, dynamic);
    const wdError = watchdogStartupError(wdSettings);
    if (wdError) throw new AgentStartError(wdError);
    this.watchdog = new Watchdog(wdSettings, { logger });

    this.ctx = await createContext(postgresOptions(config, dynamic));
    logger.info(`PostgreSQL ${this.ctx.binaries.version} from ${this.ctx.binaries.binDir}, data directory ${config.postgresql.data_dir}`);

    const storeOptions = { memberName: config.name, retryTimeoutMs: dynamic.retry_timeout * 1000 };
    if (config.raft) {
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
    const write = this.options.write ?? ((line: string) => process.stderr.write(line + '\n'));
    this.fence = new FenceController({ settings: fence, logger, dataDir: () => this.ctx.options.data_dir, client: { forwardLine: write } });
    const fenceWarning = fence.mode === 'on' ? fenceTimingWarning(dynamic.ttl * 1000, dynamic.loop_wait * 1000, dynamic.retry_timeout * 1000, fence.safetyMarginMs) : null;
    if (fenceWarning) logger.warn(fenceWarning);
    await this.fence.start();

    this.loop = new HaLoop({
      dcs: this.dcs,
      pg: () => this.ctx,
      local: () => this.config,
      bootstrapOptions: () => bootstrapOptions(this.config),
      logger,
      watchdog: this.watchdog,
      fence: this.fence,
      version: this.options.version,
      onFatal: (reason) => void this.shutdown(1, { releaseLeader: true, reason }),
      beforeCycle: (dyn, view) => this.applyDynamic(dyn, view),
    });
    // A dead fence or a kill is handled at once, not after the rest of loop_wait.
    this.fence.wakeup = () => this.loop?.wakeup();
    this.apiImpl = new AgentApiImpl({
      loop: this.loop,
      dcs: this.dcs,
      local: () => this.config,
      pg: () => this.ctx,
      watchdog: this.watchdog,
      fence: this.fence,
      version: this.options.version,
      logger,
      reload: () => this.reload(),
    });
    this.api = new ApiServer(this.apiImpl, {
      listen: config.restapi.listen,
      authentication: config.restapi.authentication as { username: string; password?: string } | undefined,
      certfile: config.restapi.certfile,
      keyfile: config.restapi.keyfile,
      version: this.options.version,
      scope: config.scope,
      name: config.name,
      logError: (message, error) => logger.error(`${message}: ${messageOf(error)}`),
    });
    const bound = await this.api.start();
    logger.info(`REST API listening on ${bound.url}`);
    this.loop.start();
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
   * Dynamic PostgreSQL settings live in the `config` key and can change at any time (PATCH
   * /config): rebuild the PostgreSQL options and apply them like a reload.
   */
  private async applyDynamic(dynamic: DynamicConfig, view: ClusterView | null): Promise<void> {
    const key = JSON.stringify([dynamic.postgresql, this.config.postgresql]);
    if (key === this.appliedPostgresql) return;
    const first = this.appliedPostgresql === '';
    this.appliedPostgresql = key;
    this.ctx = { ...this.ctx, options: postgresOptions(this.config, dynamic) };
    if (!first) await this.applyPostgresConfig(view);
  }

  /** Rewrites the managed files for the current role and reloads PostgreSQL; reports settings that need a restart. */
  private async applyPostgresConfig(view: ClusterView | null): Promise<void> {
    if ((await getStatus(this.ctx)).state !== 'running') return;
    const obs = this.loop?.last?.observation;
    const dynamic = this.loop?.last?.dynamic ?? this.config.bootstrap.dcs;
    let role: NodeRole = { role: 'primary' };
    if (obs?.state.role !== 'primary') {
      const upstream = this.loop?.executor.upstream ?? null;
      role = { role: 'replica', primary: standbyTarget(view, upstream, this.config.name, useSlots(dynamic)) };
    }
    const written = await writeConfiguration(this.ctx, role);
    await pgReload(this.ctx);
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
    this.config = next;
    this.logger.setLevel(parseLogLevel(next.log.level));
    this.api?.reload({ authentication: next.restapi.authentication as { username: string; password?: string } | undefined });
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
      // Raft leadership moves while PostgreSQL stops, so that the delete and the replicas' race
      // below meet a settled Raft leader rather than one stepping down inside close().
      const raftHandedOver = release && this.dcs instanceof RaftDcs ? this.dcs.handOverRaftLeadership() : Promise.resolve();
      if (paused) {
        logger.info('Leader key is not deleted and Postgresql is not stopped due paused state');
      } else if (this.ctx && this.loop) {
        try {
          if ((await getStatus(this.ctx)).state === 'running') {
            if (holdsKey) await withConnection(this.ctx, (c) => c.query('CHECKPOINT'), { connectTimeoutMs: 2000 }).catch(() => undefined);
            await pgStop(this.ctx, { mode: 'fast' });
            logger.info('PostgreSQL stopped');
          }
          pgSettled = true;
          checkpoint = (await readControlData(this.ctx)).checkpointLsn;
        } catch (err) {
          logger.error(`stopping PostgreSQL: ${messageOf(err)}`);
        }
      }
      this.watchdog?.disable();
      this.apiImpl?.dispose();
      // stop() closes the listener at once; open connections finish within its grace period.
      const apiStopped = this.api?.stop().catch(() => undefined);
      await raftHandedOver;
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

// A custom bootstrap (`bootstrap.method: <name>`, Patroni's _custom_bootstrap): a command restores a backup
// into the empty data directory instead of initdb; the server then starts, recovers (to the target of
// the method's recovery_conf, when given) and must come out of recovery as a primary before bootstrap
// goes on to the roles and post_bootstrap, as after initdb.
import { withConnection } from './connection.js';
import { PostgresError } from './errors.js';
import { runShell } from './exec.js';
import { getStatus, start } from './lifecycle.js';
import { removeUserFile } from './user-files.js';
import type { BootstrapOptions, CustomBootstrap, ParameterValue, PgContext } from './types.js';
import { writeConfiguration } from './write-config.js';
import path from 'node:path';

/** Keys of the method's section that are not arguments of its command (Patroni's reserved_args). */
const RESERVED = new Set(['name', 'command', 'no_params', 'keep_existing_recovery_conf', 'recovery_conf', 'scope', 'datadir']);

/** `--scope=… --datadir=…` (unless no_params), then every other key of the section as `--key=value`, as Patroni passes them. */
export function customBootstrapArgs(method: CustomBootstrap, scope: string, dataDir: string): string[] {
  const args = method.no_params ? [] : [`--scope=${scope}`, `--datadir=${dataDir}`];
  for (const [key, value] of Object.entries(method)) {
    if (RESERVED.has(key) || value === undefined || typeof value === 'object') continue;
    args.push(`--${key}=${typeof value === 'boolean' ? (value ? 'True' : 'False') : String(value)}`);
  }
  return args;
}

/** How often the end of recovery is polled. */
const RECOVERY_POLL_MS = 1000;

/**
 * Runs the method's command into `ctx`'s (empty) data directory, writes the managed configuration and
 * starts the server; resolves once it runs as a primary. Throws when the command fails, or when recovery
 * stops short of a promotion (a paused or shut-down target: recovery_target_action must be promote).
 */
export async function customBootstrap(ctx: PgContext, method: CustomBootstrap, bootstrap: BootstrapOptions, secrets: string[]): Promise<void> {
  const dataDir = ctx.options.data_dir;
  await runShell(ctx, method.command, customBootstrapArgs(method, ctx.options.scope ?? '', dataDir), { processGroup: true, secrets });
  // A backup taken from a running server may carry its pid file: the restored server is not running.
  await removeUserFile(path.join(dataDir, 'postmaster.pid'), ctx.user);
  const recovery = method.recovery_conf as Record<string, ParameterValue> | undefined;
  await writeConfiguration(ctx, { role: 'primary', ...(recovery ? { recovery } : {}) }, { bootstrap, keepRecoverySettings: !recovery && method.keep_existing_recovery_conf === true });
  await start(ctx);
  await waitForEndOfRecovery(ctx);
  // Out of recovery: the recovery settings have done their work; the managed files of a primary replace them.
  await writeConfiguration(ctx, { role: 'primary' }, { bootstrap });
}

async function waitForEndOfRecovery(ctx: PgContext): Promise<void> {
  for (;;) {
    if ((await getStatus(ctx)).state !== 'running') {
      throw new PostgresError('the restored server stopped during recovery (recovery_target_action: shutdown?); set recovery_target_action: promote in the method\'s recovery_conf');
    }
    const state = await withConnection(ctx, async (client) => {
      const row = (
        await client.query<{ r: boolean; paused: string | null }>(
          "SELECT pg_catalog.pg_is_in_recovery() AS r, CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_get_wal_replay_pause_state() END AS paused",
        )
      ).rows[0]!;
      return row;
    }).catch(() => null);
    if (state && !state.r) return;
    if (state?.paused === 'paused') {
      throw new PostgresError('recovery of the restored backup paused at its target; set recovery_target_action: promote in the method\'s recovery_conf');
    }
    await new Promise((resolve) => setTimeout(resolve, RECOVERY_POLL_MS));
  }
}

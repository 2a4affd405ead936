/**
 * The fast path of `bin/run.js` for the daemon: `hactl agent -c FILE` (or `HACTL_CONFIG=FILE hactl
 * agent`) starts without loading oclif. The agent runs for months and never uses the command
 * framework again, which would cost it ~8 MB of resident memory. Any other form — help,
 * --validate-config, an unknown flag — returns null and goes through oclif (src/commands/agent.ts
 * stays the declaration of the command).
 */
export function daemonConfigPath(argv: readonly string[], env: NodeJS.ProcessEnv): string | null {
  if (argv[0] !== 'agent') return null;
  const rest = argv.slice(1);
  if (rest.length === 0) return env.HACTL_CONFIG || null;
  if (rest.length === 2 && (rest[0] === '-c' || rest[0] === '--config') && rest[1] && !rest[1].startsWith('-')) return rest[1];
  if (rest.length === 1 && rest[0]!.startsWith('--config=') && rest[0]!.length > '--config='.length) return rest[0]!.slice('--config='.length);
  return null;
}

/** Runs the agent the way `AgentCommand.run` does and exits with its code. */
export async function runDaemon(configPath: string, version: string): Promise<never> {
  const { runAgent } = await import('./agent.js');
  const code = await runAgent({ configPath, version });
  // The Raft transport, pg pools and timers may hold the event loop open: leave deliberately.
  process.exit(code);
}

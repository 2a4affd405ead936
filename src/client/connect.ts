/** From the command's connection flags to a ClusterClient (the one path every cluster command takes). */
import { ClusterClient } from './cluster-client.js';
import { resolveClientSettings, type ClientFlags, type ClientSettings } from './settings.js';

export interface ConnectFlags extends ClientFlags {
  /** Seconds per agent for reads. */
  timeoutSeconds?: number;
  /** Seconds for actions that block on the agent (switchover, restart). */
  actionTimeoutSeconds?: number;
}

export async function connectCluster(flags: ConnectFlags, env: NodeJS.ProcessEnv = process.env): Promise<{ client: ClusterClient; settings: ClientSettings }> {
  const settings = await resolveClientSettings(flags, env);
  const client = new ClusterClient({
    agents: settings.agents,
    auth: settings.auth,
    tls: settings.tls,
    readTimeoutMs: flags.timeoutSeconds !== undefined ? flags.timeoutSeconds * 1000 : undefined,
    actionTimeoutMs: flags.actionTimeoutSeconds !== undefined ? flags.actionTimeoutSeconds * 1000 : undefined,
  });
  return { client, settings };
}

/**
 * What every cluster command shares: connecting from the flags, the `Error: <reason>` exit,
 * warnings for agents that did not answer, colours and the prompter. Commands stay declarations
 * plus a short run().
 */
import { Command } from '@oclif/core';
import type { ChalkInstance } from 'chalk';
import type { ClusterClient, ClientSettings, Unreachable } from '../client/index.js';
import { makeColors, colorsEnabled } from './colors.js';
import { failCommand } from './errors.js';
import { parseSeconds } from './cluster-flags.js';
import { createPrompter, type Prompter } from './prompts.js';

export interface ConnectionFlagValues {
  config?: string;
  api?: string;
  cacert?: string;
  certfile?: string;
  keyfile?: string;
  insecure?: boolean;
  timeout?: string;
  color?: boolean;
}

export abstract class ClusterCommand extends Command {
  public client!: ClusterClient;
  public settings!: ClientSettings;
  private warned = new Set<string>();

  /** Connect (resolve settings, build the client); failures end the command with `Error:`. */
  public async connect(flags: ConnectionFlagValues, actionTimeoutSeconds?: number): Promise<ClusterClient> {
    const { connectCluster } = await import('../client/connect.js');
    try {
      const timeoutSeconds = parseSeconds(flags.timeout, 'timeout');
      const { client, settings } = await connectCluster({ ...flags, timeoutSeconds, actionTimeoutSeconds });
      this.client = client;
      this.settings = settings;
      return client;
    } catch (err) {
      return this.fail(err);
    }
  }

  /** Print `Error: <message>` on stderr and exit 1. */
  public fail(err: unknown): never {
    // Already failed deeper down (this.exit throws): let oclif finish that exit.
    if (isExit(err)) throw err;
    // NoAgentReachable already names every agent tried.
    if (!(err instanceof Error && err.name === 'NoAgentReachable')) this.warnUnreachable();
    return failCommand(this, err);
  }

  /** One warning line per agent that did not answer (once each), on stderr. */
  public warnUnreachable(list: Unreachable[] = this.client?.unreachable ?? []): void {
    for (const u of list) {
      if (this.warned.has(u.url)) continue;
      this.warned.add(u.url);
      process.stderr.write(`Warning: agent ${u.url} unreachable: ${u.reason}\n`);
    }
  }

  public colors(flags: { color?: boolean }): ChalkInstance {
    return makeColors(flags.color ?? colorsEnabled());
  }

  public prompter(action: string): Prompter {
    return createPrompter(action);
  }

  /** The CLUSTER argument must name the cluster the agents serve (patronictl's name check). */
  public checkClusterName(expected: string | undefined, actual: string): void {
    if (expected !== undefined && expected !== actual) {
      this.fail(new Error(`cluster ${expected} not found: the agents serve cluster ${actual}`));
    }
  }
}

function isExit(err: unknown): boolean {
  return typeof err === 'object' && err !== null && typeof (err as { oclif?: { exit?: unknown } }).oclif?.exit === 'number';
}

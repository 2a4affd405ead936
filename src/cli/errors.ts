/** How a command reports failure: `Error: <message>` on stderr and a non-zero exit code. */

export interface Exits {
  exit(code?: number): never;
}

export function cliErrorMessage(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'RaftAuthFailed') {
      const addr = (err as Error & { addr?: string }).addr;
      return `${addr ? `raft node ${addr}: ` : ''}${err.message} (check --password or HACTL_RAFT_PASSWORD)`;
    }
    return err.message;
  }
  return String(err);
}

export function failCommand(cmd: Exits, err: unknown, code = 1): never {
  process.stderr.write(`Error: ${cliErrorMessage(err)}\n`);
  return cmd.exit(code);
}

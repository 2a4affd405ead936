import { constants as osConstants } from 'node:os';

/** A watchdog device could not be opened, fed, configured or closed; the message is for the log. */
export class WatchdogError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WatchdogError';
  }
}

/** An ioctl on the watchdog fd returned -1; `code` is the errno name (ENOTTY when the fd is not a watchdog). */
export class IoctlError extends WatchdogError {
  readonly code: string;

  constructor(
    readonly request: string,
    readonly errno: number,
  ) {
    const code = errnoName(errno);
    super(`${request} failed: ${code}`);
    this.name = 'IoctlError';
    this.code = code;
  }
}

export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) {
    if (value === errno) return name;
  }
  return `errno ${errno}`;
}

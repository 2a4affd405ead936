/**
 * The HA cycle's log: the decision's notes, then its status line (Patroni's "no action. I am (…)"),
 * once the action is known to be the one carried out. With log.deduplicate_heartbeat_logs (Patroni
 * 3.3+) a status line equal to the last one goes to DEBUG, so `log.level: DEBUG` still shows every cycle.
 */
import type { LineLogger } from '../../logger.js';
import type { Decision, Note } from './types.js';

export class CycleLog {
  private lastReason: string | null = null;

  constructor(
    private readonly logger: LineLogger,
    private readonly deduplicate: () => boolean,
  ) {}

  status(decision: Decision): void {
    this.notes(decision);
    const repeat = decision.reason === this.lastReason && this.deduplicate();
    this.lastReason = decision.reason;
    if (repeat) this.logger.debug(decision.reason);
    else this.logger.info(decision.reason);
  }

  notes(decision: Decision): void {
    for (const note of decision.notes) this.note(note);
  }

  private note(note: Note): void {
    if (note.level === 'error') this.logger.error(note.message);
    else if (note.level === 'warning') this.logger.warn(note.message);
    else this.logger.info(note.message);
  }
}

/**
 * When to take a snapshot and compact the log, and taking it: synchronous up to saveSnapshot (its
 * place in the storage order); the save itself runs beside the Ready loop.
 */
import type { Snapshot } from '../core/types.js';
import type { Logger } from '../kv/types.js';
import type { RaftStorage } from '../storage/types.js';
import { errorMessage } from './errors.js';
import type { StateMachine } from './state-machine.js';

export class Compactor {
  private snapshotting = false;
  private lastSnapshotBytes = 0;

  constructor(
    private readonly limits: { snapshotEntries: number; snapshotLogBytes: number },
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  maybeSnapshot(sm: StateMachine, compact: (index: number, data: Uint8Array) => Snapshot, storage: RaftStorage): void {
    if (this.snapshotting) return;
    // Amortised: besides the entry count, the log written since the last snapshot must be at least
    // as large as that snapshot, so snapshot I/O never exceeds log I/O (a big store with small
    // writes would otherwise rewrite megabytes every N entries). snapshotLogBytes is the hard cap.
    const due = sm.entriesSinceSnapshot >= this.limits.snapshotEntries && sm.bytesSinceSnapshot >= this.lastSnapshotBytes;
    if (!due && sm.bytesSinceSnapshot < this.limits.snapshotLogBytes) return;
    this.snapshotting = true;
    const started = this.now();
    let saving: Promise<void>;
    let bytes = 0;
    let index = 0;
    try {
      const snapshot = compact(sm.appliedIndex, sm.snapshotData());
      bytes = snapshot.data.byteLength;
      index = snapshot.meta.index;
      saving = storage.saveSnapshot(snapshot);
    } catch (err) {
      saving = Promise.reject(err);
    }
    saving
      .then(() => {
        this.lastSnapshotBytes = bytes;
        this.logger.info(`raft: snapshot at index ${index} (${bytes} bytes, ${Math.round(this.now() - started)} ms); log compacted`);
      })
      .catch((err: unknown) => this.logger.error(`raft: snapshot failed, log not compacted: ${errorMessage(err)}`))
      .finally(() => {
        this.snapshotting = false;
      });
  }
}

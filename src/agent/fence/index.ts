// Public surface of the fence (issue 9): the agent builds a FenceController from its config and
// hands it to the HA loop; fence-process.ts is spawned, never imported.
export { FenceController, type FenceHooks, type FenceStatusBody, type FenceControllerOptions } from './controller.js';
export { FenceClient, defaultFenceEntry, type FenceClientOptions, type FenceLogger } from './client.js';
export { applyFencePolicy, type FenceInput } from './policy.js';
export { defaultFenceDir, fenceSettings, prepareFenceDir, type FenceSettings } from './settings.js';
export {
  DEFAULT_FENCE_SAFETY_MARGIN_MS,
  FENCE_MAX_DRIFT_RATIO,
  earliestExpiryOnHolderClockMs,
  fenceDeadlineMonoMs,
  fenceTimingWarning,
} from './deadline.js';
export { HOLDER_RECHECK_MS, holderClockNs, holderClockSource, holderMsToNs, holderNowMs, type HolderClockSource } from './holder-clock.js';
export type { AgentToFence, FencedRecord, FenceProcessConfig, FenceState, FenceToAgent } from './protocol.js';

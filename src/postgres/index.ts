// Public surface of the PostgreSQL control layer (see DESIGN.md): the agent and commands import from here.
export type * from './types.js';
export * from './errors.js';
export { parseLsn, parseLsnOrNull, formatLsn, lsnDiffBytes } from './lsn.js';
export { findBinaries, parsePostgresVersion, candidateBinDirs } from './binaries.js';
export { resolveOsUser, prepareDataDir, checkDataDir, chownForUser, ensureDirForUser, ensureSocketDir, writeFileForUser, isEmptyDir, DEFAULT_OS_USER } from './os-user.js';
export { readUserFile, removeUserFile, emptyDirForUser, removeTreeForUser, UnsafePathError } from './user-files.js';
export { whyNotPrivate, whyNotPrivateOnceMade, agentUids } from './trusted-path.js';
export { run, runPg, runShell, cleanEnv, formatCommand, type RunOptions, type RunResult } from './exec.js';
export {
  createContext,
  parseListen,
  parseHostPort,
  portOf,
  socketDirOf,
  localAddressOf,
  localTcpHostOf,
  configDirOf,
  pgpassPathOf,
  logFileOf,
  rewindUserOf,
} from './context.js';
export { connect, withConnection, canConnect, waitUntilReady, type ConnectOptions } from './connection.js';
export { KeptConnection, QueryTimedOut, type KeptCallOptions } from './kept-connection.js';
export {
  buildParameters,
  buildPrimaryConninfo,
  buildConninfo,
  renderPostgresqlConf,
  renderPgHba,
  renderPgpass,
  needsRestart,
  changedParameters,
  droppedParameters,
  formatParameterValue,
} from './conf.js';
export { writeConfiguration, writePgpass, type WriteConfigurationResult } from './write-config.js';
export {
  start,
  stop,
  restart,
  reload,
  getStatus,
  isRunning,
  pendingRestart,
  queryPendingRestart,
  checkPortFree,
  commandLineSettings,
  type StartOptions,
  type StopOptions,
  type StopMode,
  type StopResult,
  type PostmasterStatus,
  type ProcessState,
} from './lifecycle.js';

export { queryState, readState, type ServerState, type WalReceiverStatus, type ReplicationConnection } from './state.js';
export { parseControlData, readControlData, isCleanShutdown, type ControlData } from './controldata.js';
export { bootstrap, initdbArgs, createOrAlterRole, superuserUrl, REWIND_GRANTS, type BootstrapResult } from './bootstrap.js';

// --- replicas, promote/demote/follow, rewind, slots, timelines (second half of issue 3) below this line ---
export {
  parseTimelineHistory,
  decideDivergence,
  localPositionFromControlData,
  parseCheckpointEndFromWaldump,
  fetchPrimaryTimeline,
  type TimelineHistoryEntry,
  type LocalTimelinePosition,
  type DivergenceVerdict,
  type PrimaryTimeline,
} from './timeline.js';
export {
  slotNameFromMemberName,
  isValidSlotName,
  planSlots,
  slotPositions,
  type SlotType,
  type ExistingSlot,
  type WantedSlot,
  type IgnoreSlotRule,
  type SlotPlan,
  type SlotAction,
} from './slots.js';
export { listSlots, applySlotPlan, readSlotPositions, syncSlots, type AppliedSlotPlan, type SyncSlotsInput, type SlotActionResult } from './slots-sql.js';
export { copyLogicalSlots, readLogicalSlotStates, installLogicalSlotStates, type LogicalSlotState, type SlotCopySource } from './slots-copy.js';
export { BasebackupProgressParser, type BasebackupProgress, type BasebackupPhase } from './basebackup-progress.js';
export { runBasebackup, basebackupArgs, commandLineArgs, replicationConninfo, type CloneSource } from './basebackup.js';
export { createReplica, looksLikeDataDir, ReplicaCreationFailed, type CreateReplicaOptions, type CreateReplicaResult } from './replica.js';
export { promote, waitUntilWritable, checkpointAfterPromote, type PromoteOptions, type PromoteResult } from './promote.js';
export { demote, follow, type DemoteOptions, type DemoteResult, type FollowResult } from './demote.js';
export {
  rewind,
  repairDivergence,
  checkDivergence,
  canRewind,
  ensureCleanShutdown,
  localTimelinePosition,
  waitForSourceCheckpoint,
  type RewindOptions,
  type RewindResult,
  type DivergenceCheck,
} from './rewind.js';
export { reinit, removeDataDirectory, type ReinitOptions } from './reinit.js';

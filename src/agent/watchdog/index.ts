// Public surface of the watchdog: the agent builds a Watchdog from its settings and drives it from
// the HA loop; tests and the e2e harness use the fake device and the detector.
export { Watchdog, defaultCreateDevice, type WatchdogActivation, type WatchdogLogger, type WatchdogOptions, type WatchdogStatus, type MonotonicClock } from './watchdog.js';
export {
  parseWatchdogMode,
  watchdogSettings,
  watchdogStartupError,
  watchdogTiming,
  type WatchdogDriver,
  type WatchdogMode,
  type WatchdogSection,
  type WatchdogSettings,
  type WatchdogTiming,
} from './settings.js';
export { DEFAULT_WATCHDOG_DEVICE, LinuxWatchdogDevice, type WatchdogDevice } from './device.js';
export { IoctlError, WatchdogError } from './errors.js';
export { loadKoffiIoctl, WDIOC, WDIOF, type Ioctl, type IoctlLoad, type WatchdogSupport } from './ioctl.js';
export { EmulatedWatchdogIoctl, type EmulatedIoctlOptions } from './emulated-ioctl.js';
export { analyzeWatchdogEvents, WatchdogStreamParser, type FakeWatchdogEvent, type WatchdogAnalysis, type WatchdogGap } from './detector.js';
export { ensureFifo, FakeWatchdogReader, type FakeWatchdogReport } from './fake-device.js';

// The dynamic configuration's keys classified as the agent classifies them (src/config/key-report.ts), for
// `hactl edit-config` to warn about what it just changed. Loaded only by that command (it brings the YAML library).
export { reportDynamicKeys } from '../config/key-report.js';

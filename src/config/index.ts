export { ConfigError } from './errors.js';
export { ConfigErrors, loadConfigFile, parseConfig, type LoadedConfig } from './load.js';
export { configSchema, dynamicConfigSchema, primaryStartTimeout, primaryStopTimeout, type DynamicConfig, type HactlConfig, type RaftSection } from './schema.js';
export { redactSecrets, REDACTED } from './redact.js';
export { adjustTiming, timingViolation, type Timing } from './timing.js';
export { envOverrides, envReport, envPath, parseEnvList } from './env.js';
export { reportDynamicKeys } from './key-report.js';

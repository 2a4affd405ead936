export { ConfigError } from './errors.js';
export { ConfigErrors, loadConfigFile, parseConfig, type LoadedConfig } from './load.js';
export { configSchema, dynamicConfigSchema, type DynamicConfig, type HactlConfig, type RaftSection } from './schema.js';
export { redactSecrets, REDACTED } from './redact.js';
export { adjustTiming, timingViolation, type Timing } from './timing.js';
export { envOverrides, parseEnvList } from './env.js';

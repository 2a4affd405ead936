/** A configuration problem, located: `file:line:col` for YAML, or the environment variable's name. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly location: string | null = null,
  ) {
    super(location ? `${location}: ${message}` : message);
    this.name = 'ConfigError';
  }
}

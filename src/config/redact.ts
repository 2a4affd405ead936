/** Secrets never reach logs or `show-config`: any key that names one has its value masked. */
const SECRET_KEY = /(password|passwd|secret|token|keyfile_password)$/i;

export const REDACTED = '******';

export function redactSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v)) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && v !== null && v !== undefined ? REDACTED : redactSecrets(v);
  }
  return out as T;
}

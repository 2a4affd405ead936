/**
 * JSON merge-patch for `PATCH /config` (Patroni's patch_config, which is RFC 7396): objects merge
 * recursively, `null` deletes a key, anything else replaces. The agent uses it inside its CAS
 * write; it lives here because the REST API defines the semantics.
 */

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Returns the patched copy of `target` (which is not modified) and whether anything changed. */
export function applyMergePatch(
  target: Record<string, unknown>,
  patch: Record<string, unknown>,
): { result: Record<string, unknown>; changed: boolean } {
  const result: Record<string, unknown> = { ...target };
  let changed = false;
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      if (key in result) {
        delete result[key];
        changed = true;
      }
    } else if (isObject(value) && isObject(result[key])) {
      const inner = applyMergePatch(result[key] as Record<string, unknown>, value);
      if (inner.changed) {
        result[key] = inner.result;
        changed = true;
      }
    } else if (isObject(value)) {
      // a new sub-object: nulls inside it mean nothing to delete
      result[key] = applyMergePatch({}, value).result;
      changed = true;
    } else if (JSON.stringify(result[key]) !== JSON.stringify(value)) {
      result[key] = value;
      changed = true;
    }
  }
  return { result, changed };
}

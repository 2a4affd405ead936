// scripts/bundle.mjs makes oclif sort the command ids by code unit instead of localeCompare (whose
// first call costs tens of ms of ICU set-up on every start). That is only the same order while
// the ids stay lower-case words joined by '-' and ':', which this test holds the commands to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const COMMANDS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'commands');

function commandIds(dir: string, prefix: string[] = []): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? commandIds(path.join(dir, e.name), [...prefix, e.name]) : e.name.endsWith('.ts') ? [[...prefix, e.name.replace(/\.ts$/, '')].join(':')] : [],
  );
}

test('command ids sort the same by code unit as by localeCompare (the bundle relies on it)', () => {
  const ids = commandIds(COMMANDS);
  assert.ok(ids.length > 20, `found only ${ids.length} commands under ${COMMANDS}`);
  for (const id of ids) assert.match(id, /^[a-z]+(-[a-z]+)*(:[a-z]+(-[a-z]+)*)*$/, `command id ${id}`);
  const byCodeUnit = [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const byLocale = [...ids].sort((a, b) => a.localeCompare(b));
  assert.deepEqual(byCodeUnit, byLocale);
});

// scripts/tap-failures.mjs: the summary a failing `npm test` ends with, read from a real node --test
// TAP log (a child run of a small failing file), so it follows the reporter's actual format.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// @ts-expect-error -- a plain .mjs script without types
import { failuresInTap, failureSummary } from '../../scripts/tap-failures.mjs';

interface Failure {
  name: string;
  location: string;
  error: string;
  errorLines: string[];
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'hactl-tap-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function tapOf(source: string): string {
  const file = path.join(dir, 'sample.test.mjs');
  writeFileSync(file, source);
  // Without NODE_TEST_CONTEXT: a child of a test run would report to its parent instead of in TAP.
  const { NODE_TEST_CONTEXT: _parent, ...env } = process.env;
  const run = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], { encoding: 'utf8', timeout: 60_000, env });
  assert.notEqual(run.status, null, `node --test did not finish: ${run.stderr}`);
  return run.stdout;
}

describe('tap-failures', () => {
  it('names each failed test with its suite, location and the first lines of its error; passes and parents are not listed', () => {
    const tap = tapOf(`import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
describe('suite x', () => {
  it('passes', () => {});
  it('fails with lines', () => { throw new Error('first line\\nsecond line\\nthird'); });
  it('fails equal', () => { assert.equal(1, 2, 'one is not two'); });
});
it('fails alone', () => { throw new Error('l1\\nl2\\nl3\\nl4\\nl5\\nl6\\nl7\\nl8'); });
`);
    const failures = failuresInTap(tap, dir) as Failure[];
    assert.deepEqual(
      failures.map((f) => [f.name, f.error]),
      [
        ['suite x > fails with lines', 'first line'],
        ['suite x > fails equal', 'one is not two'],
        ['fails alone', 'l1'],
      ],
    );
    assert.deepEqual(failures[0]!.errorLines.slice(0, 3), ['first line', 'second line', 'third']);
    assert.match(failures[0]!.location, /^sample\.test\.mjs:5:\d+$/);
    const summary = failureSummary(failures) as string;
    assert.match(summary, /# failed tests \(3\), first lines of each error:/);
    assert.match(summary, /✖ suite x > fails with lines\n {4}at sample\.test\.mjs:5:\d+\n {4}first line\n {4}second line\n {4}third/);
    // Long errors are cut, saying how much is left in the log.
    assert.match(summary, / {4}l6\n {4}… \(2 more lines in the log above\)/);
    assert.doesNotMatch(summary, /passes/);
  });

  it('says nothing for a green run', () => {
    assert.equal(failureSummary(failuresInTap(tapOf(`import { it } from 'node:test';\nit('ok', () => {});\n`), dir)), '');
  });
});

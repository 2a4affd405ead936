#!/usr/bin/env node
// The failed tests of a TAP log from node --test, and the summary of them that scripts/run-tests.sh
// prints as the last lines of a failing run:
//
//   node scripts/tap-failures.mjs <tap-log>
//
// A CI log shows its beginning and its end, and a run of 1,400 tests puts the first failure's
// message far from both; so the end names every failed test with its location and the first lines
// of its error.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Error lines kept per failure in the summary. */
const ERROR_LINES = 6;
/** Characters kept per error line. */
const LINE_CHARS = 240;

/**
 * The failed tests of one TAP log: the tests that failed themselves (not a suite failing because a
 * test in it did, not a test cancelled because its parent failed), each as "suite > test" with its
 * location, the first line of its error (`error`) and its first lines (`errorLines`).
 */
export function failuresInTap(text, root = ROOT) {
  const lines = text.split('\n');
  const stack = [];
  const failures = [];
  for (let i = 0; i < lines.length; i++) {
    const subtest = /^( *)# Subtest: (.*)$/.exec(lines[i]);
    if (subtest) {
      const depth = subtest[1].length / 4;
      stack.length = depth;
      stack[depth] = subtest[2];
      continue;
    }
    const result = /^( *)not ok \d+ - (.*?)(?: # .*)?$/.exec(lines[i]);
    if (!result) continue;
    const depth = result[1].length / 4;
    const yaml = [];
    for (let j = i + 1; j < lines.length && !/^ *\.\.\.$/.test(lines[j]); j++) yaml.push(lines[j]);
    const block = yaml.join('\n');
    const type = /failureType: '([^']+)'/.exec(block)?.[1] ?? 'unknown';
    if (type === 'subtestsFailed' || type === 'cancelledByParent') continue;
    const location = /location: '([^']+)'/.exec(block)?.[1]?.replace(`${root}/`, '') ?? '';
    failures.push({ name: [...stack.slice(0, depth), result[2]].join(' > '), location, ...errorOf(yaml, type) });
  }
  return failures;
}

/** The `error:` field of a test's YAML block: inline ('…') or a block scalar (|-) over the next lines. */
function errorOf(yaml, type) {
  const at = yaml.findIndex((l) => /^ *error: /.test(l));
  if (at < 0) return { error: type, errorLines: [type] };
  const first = yaml[at].replace(/^ *error: /, '');
  let errorLines;
  if (/^[|>][-+]?$/.test(first.trim())) {
    const indent = /^( *)/.exec(yaml[at])[1].length;
    errorLines = [];
    for (let j = at + 1; j < yaml.length && (yaml[j].trim() === '' || /^( *)/.exec(yaml[j])[1].length > indent); j++) errorLines.push(yaml[j].trim());
  } else {
    errorLines = [first.replace(/^'|'$/g, '')];
  }
  errorLines = errorLines.filter((l) => l !== '');
  return { error: (errorLines[0] ?? type).slice(0, 200), errorLines: errorLines.length > 0 ? errorLines : [type] };
}

/** The summary's text: one block per failed test, or '' when none failed. */
export function failureSummary(failures) {
  if (failures.length === 0) return '';
  const blocks = failures.map((f) => {
    const shown = f.errorLines.slice(0, ERROR_LINES).map((l) => `    ${l.slice(0, LINE_CHARS)}`);
    if (f.errorLines.length > ERROR_LINES) shown.push(`    … (${f.errorLines.length - ERROR_LINES} more lines in the log above)`);
    return [`  ✖ ${f.name}`, f.location ? `    at ${f.location}` : null, ...shown].filter((l) => l !== null).join('\n');
  });
  return `\n# failed tests (${failures.length}), first lines of each error:\n${blocks.join('\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node scripts/tap-failures.mjs <tap-log>\n');
    process.exit(2);
  }
  process.stdout.write(failureSummary(failuresInTap(readFileSync(file, 'utf8'))));
}

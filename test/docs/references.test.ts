// Comments that cite a document must send the reader somewhere: every `docs/<file>.md` named in
// src/ exists, every section number cited with it is a heading there, and nothing cites the
// maintainers' reference notes, which are not in the repository.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? walk(full) : full.endsWith('.ts') ? [full] : [];
  });
}

const sources = walk('src').map((file) => ({ file, text: readFileSync(file, 'utf8') }));

describe('documents cited in comments', () => {
  it('exist, with the sections cited', () => {
    const problems: string[] = [];
    for (const { file, text } of sources) {
      for (const m of text.matchAll(/docs\/([\w-]+\.md)((?:\s+(?:section\s+)?\d+(?:\.\d+)?(?:\s+steps?\s+[\d, ]+)?[;,]?)*)/g)) {
        const doc = path.join('docs', m[1]!);
        let body: string;
        try {
          body = readFileSync(doc, 'utf8');
        } catch {
          problems.push(`${file}: cites ${doc}, which does not exist`);
          continue;
        }
        const sections = [...(m[2] ?? '').replace(/steps?\s+[\d, ]+/g, '').matchAll(/\d+(?:\.\d+)?/g)].map((s) => s[0]);
        for (const section of sections) {
          if (!new RegExp(`^#+ ${section.replace('.', '\\.')}[. ]`, 'm').test(body)) problems.push(`${file}: cites ${doc} ${section}, which has no such section`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  it('none points outside the repository', () => {
    const outside = sources.filter(({ text }) => /reference\/[\w-]+\.md|(?<!docs\/)patroni-behaviour\.md|machine-notes\.md/.test(text)).map(({ file }) => file);
    assert.deepEqual(outside, []);
  });
});

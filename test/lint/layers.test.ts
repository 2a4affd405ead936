// The layer rules (eslint.config.js) and the cycle check (scripts/check-cycles.mjs) fail what breaks
// DESIGN.md's table: an inner layer importing an outer one, the pure core doing I/O, a cycle.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ESLint } from 'eslint';
// @ts-expect-error -- a plain .mjs script without types; findCycles(dir) → { problems: string[] }
import { findCycles } from '../../scripts/check-cycles.mjs';

const eslint = new ESLint();

/** The no-restricted-imports messages ESLint gives `code` as if it were the file `file`. */
async function restricted(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.resolve(file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('layer rules', () => {
  it('an inner layer may not import an outer one', async () => {
    assert.match((await restricted('src/dcs/x.ts', "import { HaLoop } from '../agent/ha/loop.js';\nexport const x = HaLoop;\n"))[0] ?? '', /src\/dcs may import src\/raft only/);
    assert.match((await restricted('src/postgres/x.ts', "import type { ClusterView } from '../dcs/index.js';\nexport type X = ClusterView;\n"))[0] ?? '', /nothing of ours/);
    assert.match((await restricted('src/client/x.ts', "import type { AgentApi } from '../agent/api/index.js';\nexport type X = AgentApi;\n"))[0] ?? '', /src\/client may import/);
    assert.match((await restricted('src/protocol/x.ts', "import { DcsError } from '../dcs/index.js';\nexport const x = DcsError;\n"))[0] ?? '', /src\/protocol may import nothing of ours/);
  });

  it('allows what the table allows', async () => {
    assert.deepEqual(await restricted('src/agent/x.ts', "import { decodeJson } from '../protocol/index.js';\nimport { DcsError } from '../dcs/index.js';\nexport const x = [decodeJson, DcsError];\n"), []);
    assert.deepEqual(await restricted('src/commands/x.ts', "import { HaLoop } from '../agent/ha/loop.js';\nexport const x = HaLoop;\n"), []);
  });

  it('the pure core does no I/O and never calls the shell', async () => {
    assert.match((await restricted('src/agent/ha/decide.ts', "import { readFile } from 'node:fs/promises';\nexport const x = readFile;\n"))[0] ?? '', /no I\/O modules/);
    assert.match((await restricted('src/agent/ha/leader.ts', "import { start } from '../../postgres/index.js';\nexport const x = start;\n"))[0] ?? '', /no PostgreSQL/);
    assert.match((await restricted('src/agent/ha/follow.ts', "import { HaExecutor } from './executor.js';\nexport const x = HaExecutor;\n"))[0] ?? '', /shell calls the core/);
    assert.match((await restricted('src/raft/core/x.ts', "import { createServer } from 'node:net';\nexport const x = createServer;\n"))[0] ?? '', /no I\/O modules/);
    assert.ok((await restricted('src/agent/ha/decide.ts', "import { DcsError } from '../../dcs/index.js';\nimport { AgentApiImpl } from '../../cli/x.js';\nexport const x = [DcsError, AgentApiImpl];\n")).some((m) => /src\/agent may import/.test(m)), 'the layer rule still holds for pure files');
  });
});

describe('cycle check', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hactl-cycles-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('finds a file cycle and a folder cycle, naming the loop', () => {
    const src = path.join(dir, 'src');
    for (const d of ['a', 'b']) mkdirSync(path.join(src, d), { recursive: true });
    writeFileSync(path.join(src, 'a', 'one.ts'), "import { two } from './two.js';\nexport const one = () => two;\n");
    writeFileSync(path.join(src, 'a', 'two.ts'), "import type { one } from './one.js';\nexport const two = 2 as unknown as typeof one;\nimport { bee } from '../b/bee.js';\nexport const b = bee;\n");
    writeFileSync(path.join(src, 'b', 'bee.ts'), "export const bee = 1;\nexport { one } from '../a/one.js';\n");
    const { problems } = findCycles(src) as { problems: string[] };
    assert.ok(problems.some((p) => /^file cycle: src\/a\/one\.ts → src\/a\/two\.ts → .*src\/a\/one\.ts$/.test(p)), problems.join('\n'));
    assert.ok(problems.some((p) => p === 'folder cycle: src/a → src/b → src/a'), problems.join('\n'));
  });

  it('passes the repository', () => {
    const { problems } = findCycles(path.resolve('src')) as { problems: string[] };
    assert.deepEqual(problems, []);
  });
});

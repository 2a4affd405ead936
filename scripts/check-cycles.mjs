#!/usr/bin/env node
// The import-cycle check of `npm run lint` (issue 18): no cycle between files of src/ and none
// between its folders (src/agent ⇄ src/client was one). Every static import counts, `import type`
// included: a type-only cycle still ties two files into one unit nobody can read alone. Dynamic
// `import()` counts too (it is a dependency, only a late one).
//
//   node scripts/check-cycles.mjs [DIR]      exit 1 and list each cycle, 0 when there is none
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Folders of src/ not checked (none: every layer is). */
const EXCLUDED = [];

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? walk(full) : full.endsWith('.ts') ? [full] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

/** Relative imports of `file` that resolve to .ts files of the tree. */
function importsOf(file, files) {
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|(^|[^:])\/\/.*$/gm, '$1');
  const out = new Set();
  for (const m of text.matchAll(IMPORT)) {
    const spec = (m[1] ?? m[2]).replace(/\.js$/, '.ts');
    const target = path.resolve(path.dirname(file), spec);
    if (files.has(target)) out.add(target);
    else if (files.has(path.join(target, 'index.ts'))) out.add(path.join(target, 'index.ts'));
  }
  return [...out];
}

/** Strongly connected components with more than one node, or a node importing itself (Tarjan). */
function cycles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const out = [];
  function visit(v) {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  }
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/** One concrete loop through a component, for the message: a → b → … → a. */
function loopThrough(graph, scc) {
  const members = new Set(scc);
  const start = scc[0];
  const prev = new Map([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of graph.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const loop = [start];
        for (let x = v; x !== start; x = prev.get(x)) loop.splice(1, 0, x);
        return [...loop, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return scc;
}

/** Every import cycle in `srcDir` (files, then top-level folders), as readable lines; [] when none. */
export function findCycles(srcDir, excluded = []) {
  const files = new Set(walk(srcDir).filter((f) => !excluded.includes(path.relative(srcDir, f).split(path.sep)[0])));
  const fileGraph = new Map([...files].map((f) => [f, importsOf(f, files)]));
  // Folders are the layers of DESIGN.md's table: src/<layer> (files directly in src/ are their own).
  const folderOf = (f) => path.relative(srcDir, f).split(path.sep)[0].replace(/\.ts$/, '');
  const folderGraph = new Map();
  for (const [f, deps] of fileGraph) {
    const from = folderOf(f);
    const set = folderGraph.get(from) ?? new Set();
    for (const d of deps) if (folderOf(d) !== from) set.add(folderOf(d));
    folderGraph.set(from, set);
  }
  const rel = (f) => path.relative(path.dirname(srcDir), f);
  const problems = [];
  for (const scc of cycles(fileGraph)) problems.push(`file cycle: ${loopThrough(fileGraph, scc).map(rel).join(' → ')}`);
  const folders = new Map([...folderGraph].map(([k, v]) => [k, [...v]]));
  const base = path.basename(srcDir);
  for (const scc of cycles(folders)) problems.push(`folder cycle: ${loopThrough(folders, scc).map((f) => `${base}/${f}`).join(' → ')}`);
  return { problems, files: files.size, folders: folderGraph.size };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const src = path.resolve(ROOT, process.argv[2] ?? 'src');
  const { problems, files, folders } = findCycles(src, EXCLUDED);
  const where = path.relative(ROOT, src);
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`${p}\n`);
    process.stderr.write(`check-cycles: ${problems.length} import cycle(s) in ${where}; break each (a narrow interface, a shared types file, or moving the code that both sides need)\n`);
    process.exit(1);
  }
  const left = EXCLUDED.length ? ` (${EXCLUDED.map((e) => `${where}/${e}`).join(', ')} not checked yet)` : '';
  process.stdout.write(`check-cycles: no import cycle among ${files} files and ${folders} folders of ${where}${left}\n`);
}

// Runs one shard of the unit test files in this process: imports each file in turn, so node:test
// registers and runs their tests here, in file order, as if they were one file. Unit files are
// pure and in-process (scripts/unit-guard.mjs enforces it), so sharing a process is safe, and it
// saves the second of CPU that starting node and tsx costs per file.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, SHARD_ENTRIES, unitShards } from './test-files.mjs';

export async function runShard(index, count) {
  if (count !== SHARD_ENTRIES.length) throw new Error(`there are ${SHARD_ENTRIES.length} shard entries, not ${count}`);
  const files = unitShards(count)[index - 1];
  if (!files || files.length === 0) throw new Error(`unit shard ${index} of ${count} has no files`);
  for (const file of files) await import(pathToFileURL(path.join(ROOT, file)).href);
}

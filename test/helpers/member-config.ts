// Changing a member's config file the way a user would edit it (keys set or removed through the YAML
// document, comments and order kept), for tests that need keys the cluster fixture does not write.
import { promises as fs } from 'node:fs';
import { parseDocument } from 'yaml';

/** Sets each `path → value` (dotted path; `undefined` deletes the key) in the YAML file at `file`. */
export async function editMemberConfig(file: string, changes: Record<string, unknown>): Promise<void> {
  const doc = parseDocument(await fs.readFile(file, 'utf8'));
  for (const [dotted, value] of Object.entries(changes)) {
    const path = dotted.split('.');
    if (value === undefined) doc.deleteIn(path);
    else doc.setIn(path, doc.createNode(value));
  }
  await fs.writeFile(file, doc.toString(), { mode: 0o600 });
}

/**
 * edit-config: take the dynamic configuration, change it (--set/--pg, --apply/--replace FILE or
 * -, or $EDITOR), show the diff, ask, and send the difference as a merge-patch (PATCH /config).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterCommand, ConnectionFlagValues } from './cluster-command.js';
import { AgentRefused } from '../client/errors.js';
import { applyAssignments, colorDiff, configToYaml, mergePatch, parseAssignments, parseConfigYaml, unifiedDiff, type ConfigMap } from './config-edit.js';
import { Aborted, ConfirmationRequired, isInteractive } from './prompts.js';

export interface EditConfigFlags extends ConnectionFlagValues {
  set?: string[];
  pg?: string[];
  apply?: string;
  replace?: string;
  force: boolean;
  quiet: boolean;
}

export async function runEditConfig(cmd: ClusterCommand, flags: EditConfigFlags, clusterArg?: string): Promise<void> {
  const client = await cmd.connect(flags);
  try {
    const snap = await client.cluster();
    const name = snap.cluster.scope;
    cmd.checkClusterName(clusterArg, name);
    const before = await client.dynamicConfig().catch((err: unknown) => {
      if (err instanceof AgentRefused && err.status === 502) throw new Aborted(`The config key does not exist in the cluster ${name}`);
      throw err;
    });
    cmd.warnUnreachable();

    let after: ConfigMap;
    const fromStdin = flags.apply === '-' || flags.replace === '-';
    if (flags.replace !== undefined) {
      after = parseConfigYaml(await readSource(flags.replace), flags.replace === '-' ? 'stdin' : flags.replace);
    } else if (flags.apply !== undefined) {
      const patch = parseConfigYaml(await readSource(flags.apply), flags.apply === '-' ? 'stdin' : flags.apply);
      after = applyMerge(before, patch);
    } else {
      after = before;
    }
    const assignments = parseAssignments(flags.set ?? [], flags.pg ?? []);
    after = applyAssignments(after, assignments);
    if (flags.replace === undefined && flags.apply === undefined && assignments.length === 0) {
      // Without a terminal an interactive editor would hang and the answer could not be asked anyway.
      if (!flags.force && !isInteractive()) throw new ConfirmationRequired('Apply these changes?', 'apply the change (or use --set/--pg/--apply)');
      after = editInEditor(configToYaml(before));
    }

    const diff = unifiedDiff(configToYaml(before), configToYaml(after), `${name} config`, `${name} config`);
    if (diff === '') {
      cmd.log('Not changed');
      return;
    }
    if (!flags.quiet) cmd.log(colorDiff(diff, cmd.colors(flags)));
    if (!flags.force) {
      if (fromStdin) throw new Aborted('Use --force option to apply changes (the configuration was read from stdin, so there is no terminal to ask on)');
      if (!(await cmd.prompter('apply the change').confirm('Apply these changes?', false))) throw new Aborted('Aborted: the configuration was not changed');
    }
    const patch = mergePatch(before, after);
    try {
      await client.patchConfig(patch, client.targetsLeaderFirst(snap.cluster));
    } catch (err) {
      if (err instanceof AgentRefused && err.status === 409) throw new Aborted('Config modification aborted due to concurrent changes');
      if (err instanceof AgentRefused && err.status === 503 && /config is not set/.test(err.text)) throw new Aborted(`The config key does not exist in the cluster ${name}`);
      throw err;
    }
    cmd.log('Configuration changed');
    // The agent logs the same lines: no key is silently ignored, whichever side the operator looks at.
    const { reportDynamicKeys } = await import('../client/dynamic-keys.js');
    for (const line of reportDynamicKeys(patch)) process.stderr.write(`Warning: ${line}\n`);
  } catch (err) {
    cmd.fail(err);
  }
}

/** --apply merges like a JSON merge-patch: maps recursively, null deletes. */
function applyMerge(target: ConfigMap, patch: ConfigMap): ConfigMap {
  const out: ConfigMap = structuredClone(target);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (isMap(v) && isMap(out[k])) out[k] = applyMerge(out[k] as ConfigMap, v);
    else out[k] = v;
  }
  return out;
}

function isMap(v: unknown): v is ConfigMap {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

async function readSource(source: string): Promise<string> {
  if (source !== '-') {
    try {
      return await readFile(source, 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${source}: ${(err as Error).message}`);
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** $EDITOR (or $VISUAL, `editor`, `vi`) on a temporary copy; the saved text is the new configuration. */
function editInEditor(text: string): ConfigMap {
  const editor = process.env.EDITOR || process.env.VISUAL || findEditor();
  if (!editor) throw new Error('EDITOR environment variable is not set. editor or vi are not available');
  const dir = mkdtempSync(join(tmpdir(), 'hactl-config-'));
  const file = join(dir, 'config.yaml');
  try {
    writeFileSync(file, text, { mode: 0o600 });
    // EDITOR may carry arguments ("code --wait"): run it through the shell, the file name quoted.
    const res = spawnSync(`${editor} '${file}'`, { shell: true, stdio: 'inherit' });
    if (res.error) throw new Error(`cannot run the editor ${editor}: ${res.error.message}`);
    if (res.status !== 0) throw new Error(`Editor exited with return code ${res.status ?? res.signal}`);
    return parseConfigYaml(readFileSync(file, 'utf8'), 'edited configuration');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function findEditor(): string | null {
  for (const e of ['editor', 'vi']) {
    if (spawnSync('sh', ['-c', `command -v ${e}`], { stdio: 'ignore' }).status === 0) return e;
  }
  return null;
}

// Writes man/hactl-<command>.1 for the operator commands from their oclif declarations (the
// generated oclif.manifest.json: summary, description, args, flags, examples), so help and man
// pages say the same thing. Run after `npm run build`:  node --import tsx scripts/gen-man.ts
// The agent, demo and raft pages are written by hand and left alone.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const COMMANDS = ['list', 'topology', 'switchover', 'failover', 'reinit', 'restart', 'flush', 'reload', 'pause', 'resume', 'history', 'show-config', 'edit-config', 'dsn', 'query', 'remove', 'demote-cluster', 'promote-cluster', 'version'];

interface ManifestFlag {
  name: string;
  char?: string;
  summary?: string;
  description?: string;
  helpValue?: string;
  options?: string[];
  default?: unknown;
  type: 'option' | 'boolean';
  allowNo?: boolean;
  env?: string;
  multiple?: boolean;
}

interface ManifestCommand {
  id: string;
  summary?: string;
  description?: string;
  strict?: boolean;
  args: Record<string, { name: string; description?: string; required?: boolean }>;
  flags: Record<string, ManifestFlag>;
  examples?: ({ description: string; command: string } | string)[];
}

/** Text for roff: backslashes doubled, hyphens as \-, a leading dot or quote neutralised. */
function esc(text: string): string {
  return text
    .replace(/\\/g, '\\\\')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

function flagLine(f: ManifestFlag): string {
  const long = f.allowNo ? `\\-\\-[no\\-]${esc(f.name)}` : `\\-\\-${esc(f.name)}`;
  const names = f.char ? `\\fB\\-${f.char}\\fR, \\fB${long}\\fR` : `\\fB${long}\\fR`;
  if (f.type === 'boolean') return names;
  const value = f.options ? f.options.join('|') : (f.helpValue ?? 'VALUE');
  return `${names} \\fI${esc(value)}\\fR`;
}

function page(cmd: ManifestCommand, version: string, date: string): string {
  const bin = 'hactl';
  const out: string[] = [];
  const args = Object.values(cmd.args);
  out.push(`.TH ${`HACTL-${cmd.id}`.toUpperCase()} 1 "${date}" "hactl ${version}" "hactl manual"`);
  out.push('.SH NAME', `${bin}\\-${esc(cmd.id)} \\- ${esc(cmd.summary ?? '')}`);
  out.push('.SH SYNOPSIS', `.B ${bin} ${esc(cmd.id)}`, '.RI [ options ]');
  for (const a of args) {
    const name = a.name.toUpperCase() + (cmd.strict === false ? '...' : '');
    out.push(a.required ? `.I ${name}` : `.RI [ ${name} ]`);
  }
  out.push('.SH DESCRIPTION', esc(cmd.description ?? cmd.summary ?? ''));
  if (args.length > 0) {
    out.push('.SH ARGUMENTS');
    for (const a of args) out.push('.TP', `.I ${a.name.toUpperCase()}`, esc(a.description ?? ''));
  }
  out.push('.SH OPTIONS');
  for (const f of Object.values(cmd.flags).sort((a, b) => a.name.localeCompare(b.name))) {
    let text = f.summary ?? f.description ?? '';
    if (f.default !== undefined && f.type === 'option') text += ` Default: ${String(f.default)}.`;
    if (f.env) text += ` Environment: ${f.env}.`;
    if (f.multiple) text += ' May be repeated.';
    out.push('.TP', flagLine(f), esc(text));
  }
  out.push('.TP', '\\fB\\-h\\fR, \\fB\\-\\-help\\fR', 'Show help with examples.');
  if (cmd.examples && cmd.examples.length > 0) {
    out.push('.SH EXAMPLES');
    for (const ex of cmd.examples) {
      const e = typeof ex === 'string' ? { description: '', command: ex } : ex;
      const command = e.command.replace(/<%= config\.bin %>/g, bin).replace(/<%= command\.id %>/g, cmd.id);
      if (e.description) out.push('.PP', esc(e.description));
      out.push('.PP', '.RS', '.nf', esc(command), '.fi', '.RE');
    }
  }
  out.push(
    '.SH EXIT STATUS',
    '.TP', '.B 0', 'Success.',
    '.TP', '.B 1',
    esc('Failure, with a line "Error: <reason>" on stderr: no agent reachable, a refusal by an agent (its reason is shown), a check of the command ' +
      '(e.g. "Member x is not the leader of cluster c"), a declined confirmation, or a question that needs a terminal when there is none and --force was not given. ' +
      'Unlike patronictl, a refusal by the agent is an error.'),
    '.TP', '.B 2', 'Invalid flags or arguments.',
  );
  out.push('.SH SEE ALSO', '.BR hactl (1),', '.BR hactl\\-list (1),', '.BR hactl\\-raft (1)');
  return out.join('\n') + '\n';
}

const manifest = JSON.parse(readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as { version: string; commands: Record<string, ManifestCommand> };
const date = process.env.HACTL_MAN_DATE ?? new Date().toISOString().slice(0, 7);
for (const id of COMMANDS) {
  const cmd = manifest.commands[id];
  if (!cmd) throw new Error(`${id} is not in oclif.manifest.json: run npm run build first`);
  const file = path.join(ROOT, 'man', `hactl-${id}.1`);
  writeFileSync(file, page(cmd, manifest.version, date));
  process.stdout.write(`wrote ${path.relative(ROOT, file)}\n`);
}

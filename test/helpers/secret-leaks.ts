// The suite-wide check of issue 14: the passwords of a test cluster never appear in an agent's log, a
// PostgreSQL log, `ps` output or `hactl show-config` output. TestCluster starts a watch when it is created
// (sampling `ps` while it lives) and runs the check in destroy(), after cleanup, so every e2e file that
// uses the shared fixture is covered without asking for it.
import { execFile } from 'node:child_process';
import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Where a secret was seen, with the line around it (the secret itself masked). */
export interface SecretLeak {
  source: string;
  secret: string;
  line: string;
}

/** Every line of `text` that holds one of `secrets`. */
export function findSecrets(source: string, text: string, secrets: readonly string[]): SecretLeak[] {
  const leaks: SecretLeak[] = [];
  for (const line of text.split('\n')) {
    for (const secret of secrets) {
      if (secret && line.includes(secret)) leaks.push({ source, secret, line: line.split(secret).join('<SECRET>').slice(0, 300) });
    }
  }
  return leaks;
}

/** The `password:` values of a member's YAML (authentication sections, raft, restapi, etcd). */
export function passwordsInConfig(yaml: string): string[] {
  const values = [...yaml.matchAll(/^\s*password:\s*(['"]?)(.+?)\1\s*$/gm)].map((m) => m[2]!);
  return [...new Set(values)].filter((v) => v.length >= 6);
}

/** Files under `dir` whose name ends in .log (PostgreSQL's server logs, the fence's log). */
async function logFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && !e.isSymbolicLink()) out.push(...(await logFiles(p)));
    else if (e.isFile() && e.name.endsWith('.log')) out.push(p);
  }
  return out;
}

export class SecretLeakWatch {
  private readonly leaks: SecretLeak[] = [];
  private readonly timer: NodeJS.Timeout;
  private samples = 0;

  constructor(
    private readonly secrets: readonly string[],
    sampleEveryMs = 1000,
  ) {
    this.timer = setInterval(() => void this.samplePs(), sampleEveryMs);
    this.timer.unref();
  }

  /**
   * Every process's full command line, as `ps -eo pid,args -ww` shows it, read from /proc in this
   * process: spawning ps every second for each cluster cost 38 CPU-s of a suite run (#15). Read
   * synchronously: a few hundred small reads take a few milliseconds that way, and several times
   * that through promises.
   */
  async samplePs(): Promise<void> {
    try {
      const lines: string[] = [];
      for (const pid of readdirSync('/proc')) {
        if (!/^\d+$/.test(pid)) continue;
        let raw: Buffer;
        try {
          raw = readFileSync(`/proc/${pid}/cmdline`);
        } catch {
          continue; // exited meanwhile: no line, as in ps
        }
        if (raw.length > 0) lines.push(`${pid} ${raw.toString('utf8').replace(/\0+$/, '').split('\0').join(' ')}`);
      }
      this.samples += 1;
      this.leaks.push(...findSecrets('ps', lines.join('\n'), this.secrets));
    } catch {
      // /proc unreadable for a moment costs one sample, not the check
    }
  }

  /** Scans a child's stdout and stderr as they stream (a secret split across two chunks is still found). */
  watchOutput(source: string, child: { stdout: NodeJS.ReadableStream | null; stderr: NodeJS.ReadableStream | null }): void {
    for (const stream of [child.stdout, child.stderr]) {
      let tail = '';
      stream?.on('data', (chunk: Buffer) => {
        const text = tail + chunk.toString('utf8');
        const cut = text.lastIndexOf('\n');
        if (cut < 0) {
          tail = text.slice(-4096);
          return;
        }
        this.addText(source, text.slice(0, cut));
        tail = text.slice(cut + 1);
      });
      stream?.on('end', () => this.addText(source, tail));
    }
  }

  /** `hactl show-config` of a member whose agent still runs (its output is what an operator would paste). */
  async addShowConfig(bin: string, configPath: string, cwd: string): Promise<void> {
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, [bin, 'show-config', '-c', configPath], { cwd, timeout: 20_000, env: { ...process.env, NO_COLOR: '1' } });
      this.addText(`show-config -c ${configPath}`, stdout + stderr);
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      this.addText(`show-config -c ${configPath}`, `${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  }

  /** Output a test collected (an agent's log, `hactl show-config`'s stdout). */
  addText(source: string, text: string): void {
    this.leaks.push(...findSecrets(source, text, this.secrets));
  }

  /** Every *.log file under `dir`. */
  async addLogsUnder(dir: string): Promise<void> {
    for (const file of await logFiles(dir)) this.addText(file, await fs.readFile(file, 'utf8').catch(() => ''));
  }

  /** Stops sampling; the leaks seen (deduplicated by source and line) and how many `ps` samples ran. */
  finish(): { leaks: SecretLeak[]; psSamples: number } {
    clearInterval(this.timer);
    const seen = new Set<string>();
    const leaks = this.leaks.filter((l) => {
      const key = `${l.source}\0${l.line}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    return { leaks, psSamples: this.samples };
  }
}

/** The message a failing check throws: where each secret was seen. */
export function describeLeaks(leaks: readonly SecretLeak[]): string {
  return `passwords of the test cluster leaked (${leaks.length}):\n${leaks
    .slice(0, 20)
    .map((l) => `  ${l.source}: ${l.line}`)
    .join('\n')}`;
}

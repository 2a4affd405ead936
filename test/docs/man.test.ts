// Every man page renders without a groff warning (-ww: all of them, e.g. "cannot adjust line",
// unknown macros, non-ASCII input without preconv), the way `man --warnings` would show them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/cluster.js';

const MAN_DIR = path.join(REPO_ROOT, 'man');
const pages = readdirSync(MAN_DIR).filter((f) => /\.[1-8]$/.test(f)).sort();
const groff = spawnSync('groff', ['--version'], { stdio: 'ignore' }).status === 0;

describe('man pages', { skip: groff ? false : 'groff is not installed (apt-get install -y groff-base)' }, () => {
  it('has the pages the README and hactl(1) point to', () => {
    for (const page of ['hactl.1', 'hactl-agent.1', 'hactl-demo.1', 'ha.yml.5']) assert.ok(pages.includes(page), `man/${page} is missing`);
  });

  for (const page of pages) {
    it(`${page} renders without warnings`, () => {
      // -k: preconv, so UTF-8 text (…, —) is input as man(1) would feed it.
      const r = spawnSync('groff', ['-k', '-man', '-Tutf8', '-ww', '-z', path.join(MAN_DIR, page)], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8' } });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), '', `groff warnings for man/${page}`);
      const th = /^\.TH\s+(\S+)\s+(\d)/m.exec(readFileSync(path.join(MAN_DIR, page), 'utf8'));
      assert.ok(th, `${page} has no .TH line`);
      assert.equal(`${th[1]!.toLowerCase()}.${th[2]}`, page.toLowerCase(), `${page}: .TH names ${th[1]}(${th[2]})`);
    });
  }
});


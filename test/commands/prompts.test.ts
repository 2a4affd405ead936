// The interactive dialogue through a real pseudo-terminal (util-linux `script` allocates it): the
// switchover questions are asked on a terminal, answered with keystrokes, and a "no" aborts with
// exit 1 and nothing sent; a "yes" sends. Skipped where `script` is not installed. Needs `npm run build`.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { MEMBER_STATUS, startFakeAgent, threeMemberCluster, type FakeAgent } from './fake-agent.js';
import { BIN } from './run-cli.js';
import { LIVENESS_MS } from '../helpers/wait.js';

const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

interface Session {
  output(): string;
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  type(keys: string): void;
  exited: Promise<number | null>;
}

/** `hactl <args>` on a pseudo-terminal; keystrokes go in through script's stdin. */
function onTerminal(args: string[]): Session {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // A wide terminal, so questions are not wrapped.
  const child = spawn('script', ['-qfec', `stty cols 250; ${command}`, '/dev/null'], { env: { PATH: process.env.PATH, NO_COLOR: '1', TERM: 'dumb', HACTL_CONFIG: '' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    output: () => out,
    // A liveness bound: node + oclif start slowly on a loaded machine; a missing question never shows.
    async waitFor(text, timeoutMs = LIVENESS_MS) {
      const deadline = Date.now() + timeoutMs;
      while (!(typeof text === 'string' ? out.includes(text) : text.test(out))) {
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          throw new Error(`no ${String(text)} on the terminal within ${timeoutMs} ms; got:\n${out}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    type: (keys) => child.stdin.write(keys),
    exited,
  };
}

describe('interactive switchover on a terminal', { skip: !hasScript && 'util-linux script is not installed' }, () => {
  let agent: FakeAgent;

  before(async () => {
    agent = await startFakeAgent();
  });

  after(async () => {
    await agent.close();
  });

  beforeEach(() => {
    agent.requests.length = 0;
    let leader = 'node1';
    agent.routes.set('GET /cluster', () => {
      return { body: threeMemberCluster(agent.url, { leader }) };
    });
    agent.routes.set('GET /patroni', { body: MEMBER_STATUS });
    agent.routes.set('POST /switchover', () => {
      leader = 'node2';
      return { body: 'Successfully switched over to "node2"' };
    });
  });

  it('asks primary, candidate, when and the confirmation; "no" aborts with exit 1 and sends nothing', async () => {
    const s = onTerminal(['switchover', '--api', agent.url]);
    await s.waitFor('Primary');
    s.type('\r');
    await s.waitFor('Candidate');
    s.type('\r'); // first choice: node2
    await s.waitFor('When should the switchover take place');
    s.type('\r'); // default: now
    await s.waitFor('Are you sure you want to switchover cluster demo, demoting current leader node1?');
    s.type('n\r');
    await s.waitFor('Error: Aborting switchover');
    assert.equal(await s.exited, 1);
    assert.deepEqual(agent.requests.filter((r) => r.method === 'POST'), []);
  });

  it('"yes" sends the answers given', async () => {
    const s = onTerminal(['switchover', '--api', agent.url, '--primary', 'node1', '--scheduled', 'now']);
    await s.waitFor('Candidate');
    s.type('\r');
    await s.waitFor('Are you sure');
    s.type('y\r');
    await s.waitFor('Successfully switched over to "node2"');
    assert.equal(await s.exited, 0, s.output());
    assert.deepEqual(agent.requests.filter((r) => r.method === 'POST').map((r) => r.body), [{ leader: 'node1', candidate: 'node2' }]);
  });
});

// systemd readiness through NOTIFY_SOCKET: the datagram systemd reads, sent by systemd-notify for the
// agent's pid, with none of the agent's environment (it holds secrets) passed along.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { notifySystemd } from '../../src/agent/systemd-notify.js';
import { LIVENESS_MS, waitUntil } from '../helpers/wait.js';

const PYTHON = '/usr/bin/python3';
const haveTools = fs.existsSync(PYTHON) && spawnSync('systemd-notify', ['--help'], { stdio: 'ignore' }).status === 0;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('systemd notify', () => {
  it('does nothing without NOTIFY_SOCKET', async () => {
    let called = false;
    const r = await notifySystemd({ READY: '1' }, {}, { exec: async () => void (called = true) });
    assert.deepEqual(r, { sent: false, reason: 'NOTIFY_SOCKET is not set' });
    assert.equal(called, false);
  });

  it('passes only NOTIFY_SOCKET and PATH to the helper, and reports its failure', async () => {
    let seen: { args: string[]; env: NodeJS.ProcessEnv } | null = null;
    const env = { NOTIFY_SOCKET: '/run/x', PATH: '/usr/bin', HACTL_RAFT_PASSWORD: 'secret' };
    await notifySystemd({ READY: '1', STATUS: 'two\nlines' }, env, { pid: 42, exec: async (_f, args, e) => void (seen = { args, env: e }) });
    assert.deepEqual(seen, { args: ['--no-block', '--pid=42', 'READY=1', 'STATUS=two lines'], env: { NOTIFY_SOCKET: '/run/x', PATH: '/usr/bin' } });
    const failed = await notifySystemd({ READY: '1' }, env, { binary: '/nonexistent/systemd-notify' });
    assert.equal(failed.sent, false);
    assert.match(failed.reason ?? '', /^systemd-notify failed: /);
  });

  it('delivers READY=1 with the main pid to the socket systemd listens on', { skip: haveTools ? false : 'needs /usr/bin/python3 and systemd-notify' }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hactl-notify-'));
    dirs.push(dir);
    const sock = path.join(dir, 'notify');
    // A stand-in for systemd's end of the socket: one unix datagram, printed.
    const listener = spawn(PYTHON, ['-c', `import socket,sys\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(${JSON.stringify(sock)})\ns.settimeout(20)\nprint(s.recv(4096).decode())\nsys.stdout.flush()`]);
    let out = '';
    listener.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    try {
      await waitUntil(() => fs.existsSync(sock), { timeoutMs: LIVENESS_MS, what: 'the test listener to bind the notify socket' });
      const r = await notifySystemd({ READY: '1', STATUS: 'serving' }, { NOTIFY_SOCKET: sock, PATH: process.env.PATH }, { pid: 4242 });
      assert.deepEqual(r, { sent: true });
      await waitUntil(() => out.includes('READY=1'), { timeoutMs: LIVENESS_MS, what: 'the datagram at the listener' });
      assert.deepEqual(out.trim().split('\n').sort(), ['MAINPID=4242', 'READY=1', 'STATUS=serving']);
    } finally {
      listener.kill('SIGKILL');
    }
  });
});

// The network fault fixture itself: namespaces reach each other and the test process, isolate()
// and blockPort() really drop traffic, heal() restores it, cleanup() leaves nothing behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { NetFault, netFaultSupported } from './netfault.js';
import { ProcessRegistry } from './process.js';
import { waitUntil } from './wait.js';

const support = netFaultSupported();
const ECHO = `require('net').createServer((c)=>c.end('ok')).listen(Number(process.argv[2]), process.argv[1], ()=>console.log('listening'))`;
const PROBE = `const c=require('net').connect({host:process.argv[1],port:Number(process.argv[2]),timeout:400});c.on('data',()=>{console.log('ok');process.exit(0)});c.on('timeout',()=>{console.log('timeout');process.exit(0)});c.on('error',(e)=>{console.log(e.code);process.exit(0)})`;

describe('netfault: namespaces joined by a bridge, iptables faults', { skip: support.ok ? false : support.reason }, () => {
  const registry = new ProcessRegistry();
  let nf: NetFault | undefined;
  after(async () => {
    await registry.killAll();
    registry.dispose();
    await nf?.cleanup();
  });

  /** Connect from the namespace of `from` (or the test process when null) to `to:port`. */
  function probe(from: string | null, to: string, port: number): string {
    const args = ['-e', PROBE, to, String(port)];
    if (from === null) return execFileSync(process.execPath, args, { encoding: 'utf8' }).trim();
    const w = nf!.wrap(from, process.execPath, args);
    return execFileSync(w.command, w.args, { encoding: 'utf8' }).trim();
  }

  it('isolates one node from the others in both directions and heals', async () => {
    nf = await NetFault.create(3);
    const [a, b, c] = nf.addrs as [string, string, string];
    for (const addr of nf.addrs) {
      const w = nf.wrap(addr, process.execPath, ['-e', ECHO, addr, '7000']);
      const p = registry.spawn(addr, w.command, w.args);
      await waitUntil(() => p.output().includes('listening'), { what: `echo server on ${addr}` });
    }
    assert.equal(probe(a, b, 7000), 'ok');
    assert.equal(probe(null, a, 7000), 'ok');
    await nf.isolate(a);
    assert.equal(probe(a, b, 7000), 'timeout');
    assert.equal(probe(b, a, 7000), 'timeout');
    assert.equal(probe(c, a, 7000), 'timeout');
    assert.equal(probe(b, c, 7000), 'ok', 'the majority side still talks');
    assert.equal(probe(null, a, 7000), 'ok', 'the test process still reaches the isolated node');
    await nf.heal();
    assert.equal(probe(b, a, 7000), 'ok');
    await nf.blockPort(c, 7000);
    assert.equal(probe(a, c, 7000), 'timeout');
    assert.equal(probe(null, c, 7000), 'timeout');
    await nf.heal();
    assert.equal(probe(a, c, 7000), 'ok');
  });

  it('cleanup removes namespaces, bridge and rules', async () => {
    assert.ok(nf);
    await registry.killAll();
    await nf.cleanup();
    const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    for (const n of nf.nodes) assert.ok(!netns.includes(n.ns), `${n.ns} still exists`);
    const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
    assert.ok(!links.includes(`${nf.bridge}:`), 'bridge still exists');
    const forward = execFileSync('iptables', ['-S', 'FORWARD'], { encoding: 'utf8' });
    assert.ok(!forward.includes(nf.bridge), 'FORWARD rule still there');
  });
});

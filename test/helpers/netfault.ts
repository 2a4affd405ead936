// Real network faults for whole-cluster tests (root only): every node lives in its own network
// namespace, joined to the test process by a veth pair on a bridge. Node i gets 10.213.K.i, the
// test process (root namespace, where HAProxy and psql run too) 10.213.K.254. Faults are iptables
// DROP rules in a dedicated chain `HACTL_TEST_<pid>` inside the node namespaces, so they are gone
// with the namespaces: `cleanup()` deletes namespaces, bridge and the one FORWARD rule in the root
// namespace, and an exit hook does it synchronously when a test process dies early.
//
// Why namespaces and not 127.0.0.x aliases: on loopback the kernel picks 127.0.0.1 as the source
// of every connection whatever address the peer listens on, and libpq (walreceiver, pg_rewind)
// cannot bind a source address, so "DROP from 127.0.0.2" never matches replication traffic.
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { lockMachineWide, type MachineWideLock } from '../../src/demo/ports.js';

const execFileAsync = promisify(execFile);

export interface NetNode {
  /** Index from 1. */
  index: number;
  /** Network namespace name (for `ip netns exec`). */
  ns: string;
  /** The node's address inside its namespace. */
  addr: string;
}

export class NetFaultError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NetFaultError';
  }
}

/** Whether this process can create namespaces and iptables rules (root with `ip` and `iptables`). */
export function netFaultSupported(): { ok: true } | { ok: false; reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'network fault injection needs root' };
  for (const [tool, flag] of [['ip', '-V'], ['iptables', '--version']] as const) {
    const r = spawnSync(tool, [flag], { stdio: 'ignore' });
    if (r.error || r.status !== 0) return { ok: false, reason: `${tool} is not installed (apt-get install -y ${tool === 'ip' ? 'iproute2' : 'iptables'})` };
  }
  return { ok: true };
}

async function sh(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, { timeout: 15_000 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new NetFaultError(`${cmd} ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

function shSync(cmd: string, args: string[]): void {
  spawnSync(cmd, args, { stdio: 'ignore', timeout: 15_000 });
}

const PREFIX = 'hactl-nf-';
/** Subnet locks this process holds, released once its namespaces and bridge are gone. */
const subnetLocks = new Map<number, MachineWideLock>();
const registry = new Set<NetFault>();
process.on('exit', () => {
  for (const nf of registry) nf.cleanupSync();
});

/**
 * N namespaces on one bridge. Create with `NetFault.create(3)`, spawn node processes with
 * `nf.wrap(addr, cmd, args)`, break links with `isolate`/`blockPort`, undo with `heal`, and
 * always `cleanup()` in `after` (after the processes inside were killed).
 */
export class NetFault {
  readonly chain = `HACTL_TEST_${process.pid}`;
  private cleaned = false;

  private constructor(
    /** Third octet of the subnet 10.213.K.0/24 (unique among live NetFaults on the machine). */
    readonly subnet: number,
    readonly nodes: NetNode[],
    readonly bridge: string,
  ) {}

  /** The test process's own address on the bridge (the root namespace). */
  get hostAddr(): string {
    return `10.213.${this.subnet}.254`;
  }

  get cidr(): string {
    return `10.213.${this.subnet}.0/24`;
  }

  get addrs(): string[] {
    return this.nodes.map((n) => n.addr);
  }

  static async create(count: number): Promise<NetFault> {
    const support = netFaultSupported();
    if (!support.ok) throw new NetFaultError(support.reason);
    await sweepStale();
    const used = await sh('ip', ['-4', '-o', 'addr', 'show']);
    const links = await sh('ip', ['-o', 'link', 'show']);
    // Two test processes reading `ip addr` at once would pick the same subnet: each one holds a
    // machine-wide lock on the subnet it takes (released by the kernel when the process ends).
    let subnet = -1;
    for (let i = 0; i < 200 && subnet < 0; i++) {
      const k = 20 + ((process.pid + i) % 200);
      if (used.includes(`10.213.${k}.`) || links.includes(`hxb${k}:`)) continue;
      const lock = await lockMachineWide(`netfault-subnet-${k}`);
      if (lock) {
        subnet = k;
        subnetLocks.set(k, lock);
      }
    }
    if (subnet < 0) throw new NetFaultError('no free 10.213.K.0/24 subnet');
    const bridge = `hxb${subnet}`;
    const nodes = Array.from({ length: count }, (_, i) => ({ index: i + 1, ns: `${PREFIX}${process.pid}-${subnet}-n${i + 1}`, addr: `10.213.${subnet}.${i + 1}` }));
    const nf = new NetFault(subnet, nodes, bridge);
    registry.add(nf);
    try {
      await sh('ip', ['link', 'add', bridge, 'type', 'bridge']);
      await sh('ip', ['addr', 'add', `${nf.hostAddr}/24`, 'dev', bridge]);
      await sh('ip', ['link', 'set', bridge, 'up']);
      // With br_netfilter loaded, bridged frames traverse FORWARD; a DROP policy (Docker) would cut them.
      await sh('iptables', ['-I', 'FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT']);
      for (const n of nodes) {
        const host = `hx${subnet}n${n.index}`;
        await sh('ip', ['netns', 'add', n.ns]);
        await sh('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.ns]);
        await sh('ip', ['link', 'set', host, 'master', bridge]);
        await sh('ip', ['link', 'set', host, 'up']);
        await sh('ip', ['-n', n.ns, 'addr', 'add', `${n.addr}/24`, 'dev', 'eth0']);
        await sh('ip', ['-n', n.ns, 'link', 'set', 'eth0', 'up']);
        await sh('ip', ['-n', n.ns, 'link', 'set', 'lo', 'up']);
        await sh('ip', ['netns', 'exec', n.ns, 'iptables', '-N', nf.chain]);
        await sh('ip', ['netns', 'exec', n.ns, 'iptables', '-I', 'INPUT', '-j', nf.chain]);
        await sh('ip', ['netns', 'exec', n.ns, 'iptables', '-I', 'OUTPUT', '-j', nf.chain]);
      }
    } catch (err) {
      await nf.cleanup();
      throw err;
    }
    return nf;
  }

  node(addr: string): NetNode {
    const n = this.nodes.find((x) => x.addr === addr);
    if (!n) throw new NetFaultError(`no node with address ${addr} (have ${this.addrs.join(', ')})`);
    return n;
  }

  /** Command and arguments that run `cmd args…` inside the namespace of `addr` (exec, same pid). */
  wrap(addr: string, cmd: string, args: string[]): { command: string; args: string[] } {
    return { command: 'ip', args: ['netns', 'exec', this.node(addr).ns, cmd, ...args] };
  }

  private async rule(addr: string, spec: string[]): Promise<void> {
    await sh('ip', ['netns', 'exec', this.node(addr).ns, 'iptables', '-A', this.chain, ...spec, '-j', 'DROP']);
  }

  /**
   * Cuts `addr` off from `others` (default: every other node) in both directions; the test
   * process (hostAddr) still reaches every node, like an operator on another network.
   */
  async isolate(addr: string, others: readonly string[] = this.addrs.filter((a) => a !== addr)): Promise<void> {
    for (const other of others) {
      await this.rule(addr, ['-s', other]);
      await this.rule(addr, ['-d', other]);
      await this.rule(other, ['-s', addr]);
      await this.rule(other, ['-d', addr]);
    }
  }

  /**
   * Drops TCP packets to `addr:port` — from `from` only (e.g. one replica's walreceiver), or from
   * everyone (other nodes and the test process) when omitted. Established connections stall
   * rather than reset, as with a real cable cut.
   */
  async blockPort(addr: string, port: number, from?: readonly string[]): Promise<void> {
    if (!from) {
      await this.rule(addr, ['-p', 'tcp', '--dport', String(port)]);
      return;
    }
    for (const src of from) await this.rule(addr, ['-s', src, '-p', 'tcp', '--dport', String(port)]);
  }

  /** Removes every fault rule (the namespaces stay). */
  async heal(): Promise<void> {
    for (const n of this.nodes) await sh('ip', ['netns', 'exec', n.ns, 'iptables', '-F', this.chain]);
  }

  /** The current DROP rules per node (for assertion messages). */
  async rules(): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    for (const n of this.nodes) {
      const text = await sh('ip', ['netns', 'exec', n.ns, 'iptables', '-S', this.chain]);
      out[n.addr] = text.split('\n').filter((l) => l.startsWith('-A'));
    }
    return out;
  }

  /** Deletes namespaces (their rules go with them), bridge and FORWARD rule. Never throws. */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    // Each command may fail because a previous partial cleanup did it already; what matters is the end state.
    for (const [cmd, args] of this.teardownCommands()) await execFileAsync(cmd, args, { timeout: 15_000 }).catch(() => {});
    this.cleaned = true;
    registry.delete(this);
    await subnetLocks.get(this.subnet)?.release();
    subnetLocks.delete(this.subnet);
  }

  cleanupSync(): void {
    if (this.cleaned) return;
    for (const [cmd, args] of this.teardownCommands()) shSync(cmd, args);
    this.cleaned = true;
    registry.delete(this);
  }

  private teardownCommands(): Array<[string, string[]]> {
    return [
      ...this.nodes.map((n): [string, string[]] => ['ip', ['netns', 'del', n.ns]]),
      ['iptables', ['-D', 'FORWARD', '-i', this.bridge, '-o', this.bridge, '-j', 'ACCEPT']],
      ['ip', ['link', 'del', this.bridge]],
    ];
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes namespaces and bridges left by test processes that died without cleaning up. The sweeper
 * holds the subnet's lock meanwhile, so it never deletes a bridge that a live process just made
 * (the dead owner's lock went with it).
 */
export async function sweepStale(): Promise<void> {
  const list = await sh('ip', ['netns', 'list']).catch(() => '');
  const stale = new Map<number, string[]>();
  for (const line of list.split('\n')) {
    const m = new RegExp(`^(${PREFIX}(\\d+)-(\\d+)-n\\d+)`).exec(line.trim());
    if (!m || pidAlive(Number(m[2]))) continue;
    const k = Number(m[3]);
    stale.set(k, [...(stale.get(k) ?? []), m[1]!]);
  }
  for (const [k, namespaces] of stale) {
    const lock = await lockMachineWide(`netfault-subnet-${k}`);
    if (!lock) continue; // another process is sweeping it, or has taken the subnet again
    try {
      // Already gone when another sweeper got there first: the end state is what matters.
      for (const ns of namespaces) await sh('ip', ['netns', 'del', ns]).catch(() => {});
      await sh('iptables', ['-D', 'FORWARD', '-i', `hxb${k}`, '-o', `hxb${k}`, '-j', 'ACCEPT']).catch(() => {});
      await sh('ip', ['link', 'del', `hxb${k}`]).catch(() => {});
    } finally {
      await lock.release();
    }
  }
}

/**
 * `restapi.allowlist` / `allowlist_include_members`: who may call unsafe methods, by source address
 * (Patroni's check_access, before client certificates and Basic auth). Entries are IP addresses, CIDR
 * networks or host names; names are resolved when the list is built (as Patroni does) and the members'
 * API hosts when first seen, then cached for a minute.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';

const MEMBER_CACHE_MS = 60_000;

function familyOf(address: string): 'ipv4' | 'ipv6' {
  return net.isIPv6(address) ? 'ipv6' : 'ipv4';
}

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) → `10.0.0.1`. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

async function resolve(host: string): Promise<string[]> {
  if (net.isIP(host)) return [host];
  try {
    return (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    // A name that does not resolve allows nobody; the list's other entries still count.
    return [];
  }
}

export class Allowlist {
  private readonly fixed = new net.BlockList();
  private readonly memberIps = new Map<string, { ips: string[]; atMs: number }>();

  private constructor(
    readonly configured: boolean,
    private readonly includeMembers: boolean,
    private readonly memberHosts: () => string[],
  ) {}

  /** Builds the list; `problems` gets a line for each entry that is not a host, address or network. */
  static async build(entries: readonly string[] | undefined, includeMembers: boolean, memberHosts: () => string[], problems: string[] = []): Promise<Allowlist> {
    const list = new Allowlist(entries !== undefined && entries.length > 0, includeMembers, memberHosts);
    for (const entry of entries ?? []) {
      const slash = entry.indexOf('/');
      if (slash >= 0) {
        const base = entry.slice(0, slash);
        const prefix = Number(entry.slice(slash + 1));
        if (!net.isIP(base) || !Number.isInteger(prefix) || prefix < 0 || prefix > (net.isIPv6(base) ? 128 : 32)) {
          problems.push(`restapi.allowlist: ${JSON.stringify(entry)} is not a network in CIDR notation`);
          continue;
        }
        list.fixed.addSubnet(base, prefix, familyOf(base));
        continue;
      }
      for (const ip of await resolve(entry)) list.fixed.addAddress(ip, familyOf(ip));
    }
    return list;
  }

  /** True when unsafe methods must check the source address at all. */
  get active(): boolean {
    return this.configured || this.includeMembers;
  }

  async allows(remoteAddress: string | undefined): Promise<boolean> {
    if (!this.active) return true;
    if (!remoteAddress) return false;
    const ip = plainAddress(remoteAddress);
    if (this.fixed.check(ip, familyOf(ip))) return true;
    if (!this.includeMembers) return false;
    const now = Date.now();
    for (const host of this.memberHosts()) {
      let cached = this.memberIps.get(host);
      if (!cached || now - cached.atMs > MEMBER_CACHE_MS) {
        cached = { ips: await resolve(host), atMs: now };
        this.memberIps.set(host, cached);
      }
      if (cached.ips.includes(ip)) return true;
    }
    return false;
  }
}

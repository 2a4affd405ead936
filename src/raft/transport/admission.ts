/**
 * Who may open a connection on the Raft port. Connections still in the handshake (not yet proven
 * to know the password) are few and short-lived: at most MAX_HANDSHAKING of them, at most
 * MAX_HANDSHAKING_PER_ADDRESS from one address, each dropped after the handshake timeout. So a
 * flood of idle or slow connections from one place cannot lock out members that need to re-dial,
 * and cannot hold file descriptors for long. Established connections have a per-address cap too.
 */
export const MAX_HANDSHAKING = 64;
export const MAX_HANDSHAKING_PER_ADDRESS = 8;
export const MAX_CONNECTIONS_PER_ADDRESS = 128;

export type Admission = { ok: true; release: () => void; established: () => void } | { ok: false; reason: string };

export class AdmissionControl {
  private handshaking = 0;
  private readonly handshakingBy = new Map<string, number>();
  private readonly connectedBy = new Map<string, number>();
  /** Connections refused since the last report (for one log line per burst, not one per connection). */
  refused = 0;

  constructor(
    private readonly limits = { handshaking: MAX_HANDSHAKING, handshakingPerAddress: MAX_HANDSHAKING_PER_ADDRESS, perAddress: MAX_CONNECTIONS_PER_ADDRESS },
  ) {}

  /**
   * A new connection from `address`. When admitted, call `established()` once it authenticated and
   * `release()` when it closes (either order of events is handled, each at most once).
   */
  admit(address: string): Admission {
    const inHandshake = this.handshakingBy.get(address) ?? 0;
    const connected = this.connectedBy.get(address) ?? 0;
    let reason: string | null = null;
    if (this.handshaking >= this.limits.handshaking) reason = `${this.handshaking} connections are still in the handshake`;
    else if (inHandshake >= this.limits.handshakingPerAddress) reason = `${inHandshake} connections from ${address} are still in the handshake`;
    else if (connected >= this.limits.perAddress) reason = `${connected} connections from ${address}`;
    if (reason !== null) {
      this.refused++;
      return { ok: false, reason };
    }
    this.handshaking++;
    this.handshakingBy.set(address, inHandshake + 1);
    this.connectedBy.set(address, connected + 1);
    let inHandshakeNow = true;
    let released = false;
    const leaveHandshake = () => {
      if (!inHandshakeNow) return;
      inHandshakeNow = false;
      this.handshaking--;
      bump(this.handshakingBy, address, -1);
    };
    return {
      ok: true,
      established: leaveHandshake,
      release: () => {
        if (released) return;
        released = true;
        leaveHandshake();
        bump(this.connectedBy, address, -1);
      },
    };
  }

  get handshakingNow(): number {
    return this.handshaking;
  }
}

function bump(m: Map<string, number>, key: string, by: number): void {
  const v = (m.get(key) ?? 0) + by;
  if (v <= 0) m.delete(key);
  else m.set(key, v);
}

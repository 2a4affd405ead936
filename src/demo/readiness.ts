// "Is the local cluster up?" from each member's `GET /patroni` body: one primary (state running)
// whose walsenders list every other member as `streaming` — the same definition as the Patroni
// reference benchmark's streaming_ready. Pure: the caller fetches, this decides and explains.

/** The parts of a member's /patroni body this needs (unknown fields ignored). */
export interface StatusLike {
  state?: string;
  role?: string;
  replication?: ReadonlyArray<{ application_name?: string; state?: string }>;
}

export interface Readiness {
  ready: boolean;
  leader: string | null;
  streaming: string[];
  /** What is still missing, for a progress line ("waiting for node3 to stream"). */
  waitingFor: string;
}

export function clusterReadiness(statuses: ReadonlyArray<{ name: string; status: StatusLike | null }>): Readiness {
  const primaries = statuses.filter((s) => s.status?.role === 'primary' && s.status.state === 'running');
  const down = statuses.filter((s) => s.status === null).map((s) => s.name);
  if (primaries.length !== 1) {
    const waitingFor = primaries.length === 0 ? 'a leader' + (down.length > 0 ? ` (no answer yet from ${down.join(', ')})` : '') : `one leader, not ${primaries.length}`;
    return { ready: false, leader: null, streaming: [], waitingFor };
  }
  const leader = primaries[0]!.name;
  const streaming = (primaries[0]!.status!.replication ?? []).filter((r) => r.state === 'streaming' && r.application_name).map((r) => r.application_name!);
  const missing = statuses.map((s) => s.name).filter((n) => n !== leader && !streaming.includes(n));
  return {
    ready: missing.length === 0,
    leader,
    streaming: streaming.filter((n) => n !== leader).sort(),
    waitingFor: missing.length === 0 ? '' : `${missing.join(', ')} to stream from ${leader}`,
  };
}

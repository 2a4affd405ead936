/**
 * Patroni refuses to start when the store has a member of our name whose REST API answers
 * `/liveness` within 3 s: two agents driving one member would fight over its data directory.
 * A member key left by a previous incarnation (killed, its key not yet expired) does not answer.
 */
import { httpRequest } from '../protocol/index.js';
import type { ClusterView } from '../dcs/index.js';

export type LivenessProbe = (url: string, timeoutMs: number) => Promise<number>;

// The protocol's node:http client rather than fetch, which costs the agent ~10 MB for its lifetime.
const fetchStatusCode: LivenessProbe = async (url, timeoutMs) => (await httpRequest(url, { timeoutMs })).status;

/** The CRITICAL message to exit with, or null when no live member has our name. */
export async function duplicateMemberProblem(view: ClusterView, name: string, probe: LivenessProbe = fetchStatusCode): Promise<string | null> {
  const existing = view.members.find((m) => m.name === name);
  if (!existing?.apiUrl) return null;
  try {
    const status = await probe(new URL('/liveness', existing.apiUrl).toString(), 3000);
    return status === 200 ? `Can't start; there is already a node named '${name}' running` : null;
  } catch {
    // No answer: a key left by a previous incarnation (Patroni's rule), not a live namesake.
    return null;
  }
}

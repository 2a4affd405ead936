/**
 * The primary's POST /failsafe round (Patroni's `check_failsafe_topology`): every member of the last
 * known `failsafe` key but us, in parallel, one request each with a short timeout. failsafe.ts decides
 * what the answers mean.
 */
import type { FailsafeTopology } from '../../dcs/index.js';
import { httpRequest, type Credentials, type FailsafePing, type TlsSettings } from '../../protocol/index.js';
import { messageOf } from '../error-text.js';
import type { FailsafeAnswer, FailsafeRound } from './types.js';

/** POST of a JSON body; the status and text of the answer. Throws when there is no answer. */
export type PostFailsafe = (url: string, body: FailsafePing, timeoutMs: number) => Promise<{ status: number; text: string }>;

/** Patroni's timeout for each POST /failsafe. */
export const FAILSAFE_REQUEST_TIMEOUT_MS = 2000;

/** `…/patroni` (what the key holds) → `…/failsafe` (Patroni's get_endpoint_url). */
export function failsafeUrl(apiUrl: string): string {
  const url = new URL(apiUrl);
  url.pathname = '/failsafe';
  url.search = '';
  return url.toString();
}

/** The protocol's client, with the REST credentials and TLS the agent uses for its peers (Patroni's PatroniRequest). */
export function postFailsafeJson(tls: () => TlsSettings = () => ({}), auth: () => Credentials | undefined = () => undefined): PostFailsafe {
  return async (url, body, timeoutMs) => {
    const res = await httpRequest(url, { method: 'POST', body, timeoutMs, tls: tls(), auth: auth() });
    return { status: res.status, text: res.text };
  };
}

export async function askFailsafeMembers(
  topology: FailsafeTopology | null,
  ping: FailsafePing,
  options: { post: PostFailsafe; monoNow: () => number; timeoutMs?: number },
): Promise<FailsafeRound> {
  const sentAtMonoMs = options.monoNow();
  if (topology === null) return { sentAtMonoMs, answers: [], refused: 'no failsafe key is known' };
  if (!Object.hasOwn(topology, ping.name)) return { sentAtMonoMs, answers: [], refused: `${ping.name} is not in the failsafe key` };
  const timeoutMs = options.timeoutMs ?? FAILSAFE_REQUEST_TIMEOUT_MS;
  const others = Object.entries(topology).filter(([name]) => name !== ping.name);
  const answers = await Promise.all(
    others.map(async ([name, apiUrl]): Promise<FailsafeAnswer> => {
      try {
        const res = await options.post(failsafeUrl(apiUrl), ping, timeoutMs);
        const accepted = res.status === 200 && res.text === 'Accepted';
        return { name, accepted, detail: `${res.status} ${res.text.slice(0, 200)}` };
      } catch (err) {
        return { name, accepted: false, detail: `no answer: ${messageOf(err)}` };
      }
    }),
  );
  return { sentAtMonoMs, answers, refused: null };
}

// The dry-run output (`hactl failover --dry-run`) for each exclusion reason, rendered from what the
// agent's explanation produces (explainFailover → the wire body → the CLI's table), so the text an
// operator reads is checked for every reason the race can give.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { explainFailover, type ExplainRequest } from '../../src/agent/ha/race-explanation.js';
import { failoverCandidatesJson } from '../../src/agent/failover-candidates.js';
import { renderExplanation } from '../../src/cli/failover-explain.js';
import { makeColors } from '../../src/cli/colors.js';
import { renderedText } from '../../src/cli/output.js';
import type { DecideInput, MemberHealth } from '../../src/agent/ha/index.js';
import type { FailoverCandidatesJson } from '../../src/client/index.js';
import { PRIMARY_LSN, health, input, member, view } from '../agent/ha/fixtures.js';

function body(i: DecideInput, extra: Partial<ExplainRequest> = {}): FailoverCandidatesJson {
  return failoverCandidatesJson(explainFailover({ input: i, selfWatchdogFailed: false, selfFenceVeto: null, candidate: null, kind: 'failover', ...extra }), 'demo');
}

const peers = (srv3: Partial<MemberHealth> = {}): MemberHealth[] => [health('srv1', { role: 'primary' }), health('srv3', { walLsn: PRIMARY_LSN - 100n, ...srv3 })];

async function pretty(b: FailoverCandidatesJson): Promise<string> {
  return renderedText(renderExplanation(b, { format: 'pretty', colors: makeColors(false) }));
}

/** The table row of `name`, cells trimmed. */
function row(text: string, name: string): string[] {
  const line = text.split('\n').find((l) => l.startsWith(`| ${name} `));
  assert.ok(line, `a row for ${name} in\n${text}`);
  return line.split('|').slice(1, -1).map((c) => c.trim());
}

const SYNC = { leader: 'srv1', syncStandbys: ['srv2'], quorum: null, keyVersion: 4 };
const HISTORY = { lines: [{ timeline: 1, lsn: PRIMARY_LSN - 1000n, reason: '', timestamp: null, newLeader: 'srv1' }], keyVersion: 3 };
const VETO = 'its fence process is not running, so it would not take the leader key';

/** One scenario per reason srv3 can be excluded for, with the Verdict cell and the Reason text expected. */
const CASES: { name: string; input: DecideInput; verdict: string; reason: RegExp }[] = [
  { name: 'lag', input: input({ memberHealth: peers({ walLsn: PRIMARY_LSN - 3_145_728n }) }), verdict: 'lag', reason: /^lag 3145728 bytes exceeds maximum_lag_on_failover 1048576$/ },
  {
    name: 'nofailover',
    input: input({ view: view({ members: [member('srv1', { role: 'primary' }), member('srv2'), member('srv3', { tags: { nofailover: true } })] }), memberHealth: peers({ nofailover: true, failoverPriority: 0 }) }),
    verdict: 'nofailover',
    reason: /^not allowed to promote \(tagged nofailover\)$/,
  },
  {
    name: 'failover_priority 0',
    input: input({ view: view({ members: [member('srv1', { role: 'primary' }), member('srv2'), member('srv3', { tags: { failover_priority: 0 } })] }), memberHealth: peers({ nofailover: true, failoverPriority: 0 }) }),
    verdict: 'nofailover',
    reason: /^not allowed to promote \(failover_priority 0\)$/,
  },
  { name: 'timeline', input: input({ view: view({ history: HISTORY }), config: { checkTimeline: true }, local: { ...input().local, timeline: 2 }, memberHealth: peers({ timeline: 1 }) }), verdict: 'timeline', reason: /^timeline 1 is behind the cluster timeline 2$/ },
  { name: 'unreachable', input: input({ memberHealth: peers({ reachable: false }) }), verdict: 'unreachable', reason: /^not reachable$/ },
  { name: 'synchronous mode', input: input({ view: view({ sync: SYNC }), config: { synchronousMode: 'on' }, memberHealth: peers() }), verdict: 'sync', reason: /^not a synchronous standby in synchronous mode; sync key: leader srv1, synchronous standbys \[srv2\]$/ },
  { name: 'fence veto', input: input({ memberHealth: peers({ fenceVeto: VETO, walLsn: PRIMARY_LSN + 100n }) }), verdict: 'fence', reason: /^vetoed by its fence: its fence process is not running/ },
  { name: 'watchdog', input: input({ memberHealth: peers({ watchdogFailed: true, walLsn: PRIMARY_LSN + 100n }) }), verdict: 'watchdog', reason: /^not watchdog capable$/ },
  { name: 'paused', input: input({ config: { pause: true }, memberHealth: peers() }), verdict: 'paused', reason: /^the cluster is paused \(maintenance mode\): no automatic failover$/ },
  { name: 'behind another member', input: input({ memberHealth: peers() }), verdict: 'behind', reason: /^srv2 is 100 bytes ahead$/ },
  { name: 'not running', input: input({ memberHealth: peers({ state: 'stopped' }) }), verdict: 'not-running', reason: /^PostgreSQL is not running as a replica \(stopped\)$/ },
];

describe('hactl failover --dry-run output', () => {
  for (const c of CASES) {
    it(`shows why a member is excluded: ${c.name}`, async () => {
      const text = await pretty(body(c.input));
      const cells = row(text, 'srv3');
      assert.equal(cells[7], c.verdict, text);
      assert.match(cells[8]!, c.reason, text);
      assert.equal(row(text, 'srv1')[7], 'leader');
    });
  }

  it('starts with the summary and what the answer assumes', async () => {
    const text = await pretty(body(input({ memberHealth: peers() })));
    const lines = text.split('\n');
    assert.equal(lines[0], 'Dry run (nothing changed): if the leader srv1 failed now, srv2 would take the leader key');
    assert.equal(lines[1], 'As seen by srv2: maximum_lag_on_failover 1048576 bytes');
    assert.deepEqual(row(text, 'srv2').slice(0, 8), ['srv2', 'replica', 'running', '0/30000000', '0', '1', '1', 'winner']);
  });

  it('says when the agent would refuse the request outright', async () => {
    const b = { ...body(input({ memberHealth: peers() }), { candidate: 'srv9' }), refusal: { status: 412, text: 'candidate does not exists' } };
    assert.match(await pretty(b), /^The agent would refuse the request: 412 candidate does not exists$/m);
  });

  it('json is the agent\'s body; tsv has a header row', async () => {
    const b = body(input({ memberHealth: peers() }));
    assert.deepEqual(JSON.parse(await renderedText(renderExplanation(b, { format: 'json' }))), JSON.parse(JSON.stringify(b)));
    const tsv = await renderedText(renderExplanation(b, { format: 'tsv' }));
    assert.equal(tsv.split('\n')[0], 'Member\tRole\tState\tLSN\tLag in MB\tTL\tPriority\tVerdict\tReason');
  });
});

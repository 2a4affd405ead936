// `hactl query` without a cluster: the flag rules in patronictl's words, which member a role picks,
// and the four output formats (the end-to-end runs are in test/commands/cluster.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatQueryResult, pickQueryMember, queryPlan, type QueryFlags } from '../../src/cli/query-flow.js';
import type { ClusterMember } from '../../src/client/index.js';

const flags = (over: Partial<QueryFlags>): QueryFlags => ({ password: false, delimiter: '\t', ...over });

describe('hactl query', () => {
  it('refuses what patronictl refuses, in its words', () => {
    assert.throws(() => queryPlan(flags({ command: 'x', member: 'a', role: 'replica' })), /^Error: --role and --member are mutually exclusive options$/);
    assert.throws(() => queryPlan(flags({ command: 'x', file: '/dev/null' })), /^Error: --file and --command are mutually exclusive options$/);
    assert.throws(() => queryPlan(flags({})), /^Error: You need to specify either --command or --file$/);
    assert.throws(() => queryPlan(flags({ file: '/nonexistent/q.sql' })), /^Error: --file \/nonexistent\/q\.sql: ENOENT$/);
  });

  it('asks the leader by default, any role for a named member', () => {
    assert.deepEqual(queryPlan(flags({ command: 'SELECT 1' })), { sql: 'SELECT 1', role: 'leader', member: null });
    assert.deepEqual(queryPlan(flags({ command: 'SELECT 1', member: 'n2' })), { sql: 'SELECT 1', role: 'any', member: 'n2' });
  });

  it('picks the leader first, and only members with an address', () => {
    const members: ClusterMember[] = [
      { name: 'n1', role: 'replica', state: 'streaming', host: '10.0.0.1', port: 5432 },
      { name: 'n2', role: 'leader', state: 'running', host: '10.0.0.2', port: 5432 },
      { name: 'n3', role: 'replica', state: 'stopped' },
    ];
    assert.equal(pickQueryMember(members, 'any', null)?.name, 'n2');
    assert.equal(pickQueryMember(members, 'replica', null)?.name, 'n1');
    assert.equal(pickQueryMember(members, 'any', 'n3'), null);
    assert.equal(pickQueryMember(members, 'standby-leader', null), null);
  });

  it('prints tsv with a header row (NULL as empty), json and yaml with every column, pretty as a table', async () => {
    const result = { columns: ['id', 'note'], rows: [['1', null], ['2', 'b c']] };
    assert.equal(await formatQueryResult(result, 'tsv', '\t'), 'id\tnote\n1\t\n2\tb c');
    assert.equal(await formatQueryResult(result, 'tsv', ';'), 'id;note\n1;\n2;b c');
    assert.deepEqual(JSON.parse(await formatQueryResult(result, 'json', '\t')), [{ id: '1', note: null }, { id: '2', note: 'b c' }]);
    assert.equal(await formatQueryResult(result, 'yaml', '\t'), '- id: "1"\n  note: null\n- id: "2"\n  note: b c');
    assert.equal(await formatQueryResult(result, 'pretty', '\t'), '+----+------+\n| id | note |\n+----+------+\n| 1  |      |\n| 2  | b c  |\n+----+------+');
    const error = { columns: null, rows: [['2026-01-01 00:00:00', 'ERROR, SQLSTATE: 42P01']], error: 'x' };
    assert.equal(await formatQueryResult(error, 'tsv', '\t'), '2026-01-01 00:00:00\tERROR, SQLSTATE: 42P01');
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterJson, ClusterMember } from '../../src/client/index.js';
import { clusterTitle, hostColumn, lagInMb, renderCluster, topologyOrder } from '../../src/cli/cluster-table.js';
import { makeColors } from '../../src/cli/colors.js';
import { renderedText } from '../../src/cli/output.js';

const plain = makeColors(false);
const ESC = '\u001b';
const MB = 1024 * 1024;

function member(name: string, role: ClusterMember['role'], extra: Partial<ClusterMember> = {}): ClusterMember {
  return { name, role, state: 'running', host: '127.0.0.1', port: 5432 + Number(name.slice(-1)), timeline: 1, ...extra };
}

function pretty(cluster: ClusterJson, systemIdentifier: string | null = null, opts: { topology?: boolean; extended?: boolean } = {}): string {
  const r = renderCluster({ cluster, systemIdentifier }, { format: 'pretty', colors: plain, ...opts });
  assert.ok('text' in r);
  return r.text;
}

describe('list table (pretty)', () => {
  it('reproduces patronictl 3.x output after a switchover byte for byte', () => {
    // The second table of shared/anchors/patroni/RESULTS.md section 6.
    const cluster: ClusterJson = {
      scope: 'demo',
      members: [
        member('node1', 'replica', { lag: 0 }),
        member('node2', 'replica', { state: 'stopping', timeline: undefined, lag: 'unknown' }),
        member('node3', 'leader'),
      ],
    };
    assert.equal(
      pretty(cluster),
      [
        '+ Cluster: demo ----------+---------+----------+----+-----------+',
        '| Member | Host           | Role    | State    | TL | Lag in MB |',
        '+--------+----------------+---------+----------+----+-----------+',
        '| node1  | 127.0.0.1:5433 | Replica | running  |  1 |         0 |',
        '| node2  | 127.0.0.1:5434 | Replica | stopping |    |   unknown |',
        '| node3  | 127.0.0.1:5435 | Leader  | running  |  1 |           |',
        '+--------+----------------+---------+----------+----+-----------+',
      ].join('\n'),
    );
  });

  it('puts the cluster name and system identifier into the top border', () => {
    const cluster: ClusterJson = {
      scope: 'demo-cluster-1',
      members: [
        { name: 'postgresql0', role: 'leader', state: 'running', host: '10.0.0.10', port: 5432, timeline: 3 },
        { name: 'postgresql1', role: 'replica', state: 'streaming', host: '10.0.0.11', port: 5432, timeline: 3, lag: 0 },
      ],
    };
    const lines = pretty(cluster, '7117556723320621508').split('\n');
    // The title overwrites the border up to where it ends, junctions included (PatronictlPrettyTable).
    assert.equal(lines[0], '+ Cluster: demo-cluster-1 (7117556723320621508) +----+-----------+');
    assert.equal(lines[1], '| Member      | Host      | Role    | State     | TL | Lag in MB |');
    // Everyone on 5432 and on distinct hosts: no port in the Host column.
    assert.equal(lines[3], '| postgresql0 | 10.0.0.10 | Leader  | running   |  3 |           |');
    assert.equal(lines[0]!.length, lines[1]!.length);
  });

  it('cuts a title longer than the table to fit the border', () => {
    const cluster: ClusterJson = { scope: 'a-very-long-cluster-name-indeed', members: [{ name: 'n', role: 'leader', state: 'running' }] };
    const lines = pretty(cluster, '7117556723320621508').split('\n');
    assert.equal(lines[0]!.length, lines[1]!.length);
    assert.match(lines[0]!, /^\+ Cluster: a-very-long-cluster-name.*\+$/);
  });

  it('says (uninitialized) when there are no members and no system identifier', () => {
    assert.equal(clusterTitle('demo', null, 0), ' Cluster: demo (uninitialized) ');
    assert.equal(clusterTitle('demo', null, 2), ' Cluster: demo ');
  });

  it('rounds lag to whole MB and leaves the leader empty', () => {
    assert.equal(lagInMb(member('n1', 'replica', { lag: 1.6 * MB })), 2);
    assert.equal(lagInMb(member('n1', 'replica', { lag: 0.4 * MB })), 0);
    assert.equal(lagInMb(member('n1', 'replica', { lag: 'unknown' })), 'unknown');
    assert.equal(lagInMb(member('n1', 'leader', { lag: 5 * MB })), '');
    assert.equal(lagInMb(member('n1', 'replica', { lag: undefined, replay_lag: 3 * MB })), 3);
  });

  it('adds the port when two members share a host', () => {
    const members = [member('n1', 'leader', { host: 'db', port: 5432 }), member('n2', 'replica', { host: 'db', port: 5432 })];
    assert.equal(hostColumn(members)(members[0]!), 'db:5432');
  });

  it('shows Pending restart, Scheduled restart, Tags, Fence and Watchdog with -e, and tags as YAML lines with rules between rows (PrettyTable hrules=ALL)', () => {
    const cluster: ClusterJson = {
      scope: 'demo',
      members: [
        member('node1', 'leader', {
          pending_restart: true,
          scheduled_restart: { schedule: '2026-12-01T02:00:00+00:00', postgres_version: '16.4' },
          fence: 'armed 4.2s',
          watchdog: 'active 25s',
        }),
        member('node2', 'sync_standby', { lag: 0, tags: { nofailover: true, clonefrom: true }, fence: 'on', watchdog: 'idle' }),
      ],
    };
    const rule =
      '+--------+----------------+--------------+---------+----+-----------+-----------------+---------------------------------------------+------------------+------------+------------+';
    assert.deepEqual(pretty(cluster, null, { extended: true }).split('\n'), [
      '+ Cluster: demo ----------+--------------+---------+----+-----------+-----------------+---------------------------------------------+------------------+------------+------------+',
      '| Member | Host           | Role         | State   | TL | Lag in MB | Pending restart | Scheduled restart                           | Tags             | Fence      | Watchdog   |',
      rule,
      '| node1  | 127.0.0.1:5433 | Leader       | running |  1 |           | *               | 2026-12-01T02:00:00+00:00 if version < 16.4 |                  | armed 4.2s | active 25s |',
      rule,
      '| node2  | 127.0.0.1:5434 | Sync Standby | running |  1 |         0 |                 |                                             | nofailover: true | on         | idle       |',
      '|        |                |              |         |    |           |                 |                                             | clonefrom: true  |            |            |',
      rule,
    ]);
  });

  it('keeps the default table patronictl\'s: Fence and Watchdog appear only with -e, even when members publish them', () => {
    const bare: ClusterJson = { scope: 'demo', members: [member('node1', 'leader'), member('node2', 'replica', { lag: 0 })] };
    const published: ClusterJson = {
      scope: 'demo',
      members: [member('node1', 'leader', { fence: 'armed 4.2s', watchdog: 'off' }), member('node2', 'replica', { lag: 0, fence: 'on', watchdog: 'off' })],
    };
    assert.equal(pretty(published), pretty(bare));
    assert.doesNotMatch(pretty(published), /Fence|Watchdog/);
    const json = renderCluster({ cluster: published, systemIdentifier: null }, { format: 'json', extended: true });
    assert.ok('data' in json);
    assert.deepEqual(
      (json.data as Record<string, unknown>[]).map((r) => [r.Member, r.Fence, r.Watchdog]),
      [
        ['node1', 'armed 4.2s', 'off'],
        ['node2', 'on', 'off'],
      ],
    );
  });

  it('shows the optional columns without -e when a member has a value', () => {
    const cluster: ClusterJson = { scope: 'demo', members: [member('node1', 'leader', { pending_restart: true }), member('node2', 'replica', { lag: 0 })] };
    const header = pretty(cluster).split('\n')[1]!;
    assert.match(header, /Pending restart/);
    assert.doesNotMatch(header, /Tags|Scheduled restart/);
  });

  it('prints maintenance mode, failsafe mode and a scheduled switchover under the table', () => {
    const cluster: ClusterJson = {
      scope: 'demo',
      pause: true,
      failsafe_mode: true,
      scheduled_switchover: { at: '2026-12-01T02:00:00+01:00', from: 'node1', to: 'node2' },
      members: [member('node1', 'leader'), member('node2', 'replica', { lag: 0 })],
    };
    const tail = pretty(cluster).split('\n').slice(-5);
    assert.deepEqual(tail, [' Maintenance mode: on', ' Failsafe mode: on', ' Switchover scheduled at: 2026-12-01T02:00:00+01:00', '                    from: node1', '                      to: node2']);
  });

  it('colours nothing when colours are off, and the layout is the same with them on', () => {
    const cluster: ClusterJson = { scope: 'demo', members: [member('node1', 'leader'), member('node2', 'replica', { lag: 0, state: 'stopped' })] };
    const off = pretty(cluster);
    assert.ok(!off.includes(ESC));
    const on = renderCluster({ cluster, systemIdentifier: null }, { format: 'pretty', colors: makeColors(true) });
    assert.ok('text' in on);
    assert.ok(on.text.includes(ESC));
    assert.equal(on.text.replace(new RegExp(`${ESC}\\[[0-9;]*m`, 'g'), ''), off);
  });
});

describe('topology', () => {
  const cluster: ClusterJson = {
    scope: 'demo',
    members: [
      member('node4', 'replica', { lag: 0, tags: { replicatefrom: 'node2' } }),
      member('node2', 'replica', { lag: 0 }),
      member('node3', 'replica', { lag: 0, tags: { replicatefrom: 'nobody' } }),
      member('node1', 'leader'),
      member('node5', 'replica', { lag: 0, tags: { replicatefrom: 'node4' } }),
    ],
  };

  it('orders members as a tree: leader, then each replica under the member it replicates from', () => {
    assert.deepEqual(
      topologyOrder(cluster.members).map((e) => [e.member.name, e.level]),
      [['node1', 0], ['node2', 1], ['node4', 2], ['node5', 3], ['node3', 1]],
    );
  });

  it('indents member names with "+ " and two spaces per level', () => {
    const names = pretty(cluster, null, { topology: true })
      .split('\n')
      .slice(3, 8)
      .map((l) => l.split('|')[1]!.trimEnd());
    assert.deepEqual(names, [' node1', ' + node2', '   + node4', '     + node5', ' + node3']);
  });

  it('keeps members of a replicatefrom cycle and a cluster without leader', () => {
    const noLeader = [member('a1', 'replica', { tags: { replicatefrom: 'b2' } }), member('b2', 'replica', { tags: { replicatefrom: 'a1' } })];
    assert.deepEqual(topologyOrder(noLeader).map((e) => e.member.name).sort(), ['a1', 'b2']);
  });
});

describe('list in other formats', () => {
  const cluster: ClusterJson = {
    scope: 'demo',
    members: [member('node1', 'leader'), member('node2', 'replica', { lag: 2 * MB, tags: { nofailover: true } })],
  };

  it('tsv starts with a Cluster column and a header row, tags in flow style', () => {
    const r = renderCluster({ cluster, systemIdentifier: null }, { format: 'tsv' });
    assert.ok('text' in r);
    assert.deepEqual(r.text.split('\n'), [
      'Cluster\tMember\tHost\tRole\tState\tTL\tLag in MB\tTags',
      'demo\tnode1\t127.0.0.1:5433\tLeader\trunning\t1\t\t',
      'demo\tnode2\t127.0.0.1:5434\tReplica\trunning\t1\t2\t{nofailover: true}',
    ]);
  });

  it('json is a list of records with the column names, empty values left out', async () => {
    const text = await renderedText(renderCluster({ cluster, systemIdentifier: null }, { format: 'json' }));
    assert.deepEqual(JSON.parse(text), [
      { Cluster: 'demo', Member: 'node1', Host: '127.0.0.1:5433', Role: 'Leader', State: 'running', TL: 1 },
      { Cluster: 'demo', Member: 'node2', Host: '127.0.0.1:5434', Role: 'Replica', State: 'running', TL: 1, 'Lag in MB': 2, Tags: { nofailover: true } },
    ]);
  });

  it('yaml holds the same records', async () => {
    const text = await renderedText(renderCluster({ cluster, systemIdentifier: null }, { format: 'yaml' }));
    const { parse } = await import('yaml');
    const json = JSON.parse(await renderedText(renderCluster({ cluster, systemIdentifier: null }, { format: 'json' })));
    assert.deepEqual(parse(text), json);
    assert.match(text, /^- Cluster: demo\n {2}Member: node1/);
  });
});

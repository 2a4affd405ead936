// No key is silently ignored: every key of a Patroni file is implemented, warned about with file:line,
// or refused; unknown keys get a "did you mean"; Patroni's spellings of levels and tag pairs load.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigErrors, parseConfig, reportDynamicKeys } from '../../src/config/index.js';
import { KEY_RULES, ruleFor } from '../../src/config/key-support.js';
import { REPO_ROOT } from '../helpers/cluster.js';

const BASE = `scope: s
name: n
restapi:
  listen: 127.0.0.1:8008
  connect_address: 127.0.0.1:8008
raft:
  self_addr: 127.0.0.1:5010
  partner_addrs: []
  data_dir: /tmp/x/raft
  allow_unauthenticated: true
postgresql:
  listen: 127.0.0.1:5432
  connect_address: 127.0.0.1:5432
  data_dir: /tmp/x
  authentication:
    superuser: {username: postgres}
    replication: {username: replicator}
`;

function load(extra: string, base = BASE) {
  return parseConfig(base + extra, 'ha.yml');
}

function lineOf(text: string, needle: string): number {
  return text.split('\n').findIndex((l) => l.includes(needle)) + 1;
}

describe('configuration key support', () => {
  it('warns about an unknown key with file:line and a did-you-mean, and still starts', () => {
    const text = BASE.replace('  data_dir: /tmp/x\n', '  data_dir: /tmp/x\n  paramaters:\n    work_mem: 8MB\n');
    const { warnings } = parseConfig(text, 'ha.yml');
    assert.deepEqual(warnings, [`ha.yml:${lineOf(text, 'paramaters')}:3: unknown key postgresql.paramaters; did you mean postgresql.parameters? (ignored)`]);
    const top = load('restpi:\n  listen: x\n').warnings;
    assert.match(top[0]!, /^ha\.yml:\d+:1: unknown key restpi; did you mean restapi\? \(ignored\)$/);
    assert.match(load('zzzz_custom: 1\n').warnings[0]!, /unknown key zzzz_custom \(ignored\)$/, 'no far-fetched guess');
  });

  it('warns about keys accepted but not implemented yet, naming what happens instead', () => {
    const text = BASE + 'log:\n  traceback_level: DEBUG\nbootstrap:\n  dcs:\n    failsafe_mode: true\n';
    const { warnings } = parseConfig(text.replace('  data_dir: /tmp/x\n', '  data_dir: /tmp/x\n  replica_method: x\n'), 'ha.yml');
    assert.ok(warnings.some((w) => /^ha\.yml:\d+:3: postgresql\.replica_method is accepted but not implemented yet \(custom replica methods are not run yet: replicas are cloned with pg_basebackup\)$/.test(w)), warnings.join('\n'));
    assert.ok(warnings.some((w) => /log\.traceback_level is ignored by hactl/.test(w)), warnings.join('\n'));
    assert.ok(!warnings.some((w) => /failsafe_mode/.test(w)), `failsafe_mode is implemented (issue 16): ${warnings.join('\n')}`);
  });

  it("loads Patroni's slot keys without a warning: permanent slots (an empty value too), ignore_slots, member_slots_ttl", () => {
    const text =
      BASE +
      'bootstrap:\n  dcs:\n    member_slots_ttl: 600\n    slots:\n      archiver: 0\n      dr: {type: physical, cluster_type: primary}\n      cdc: {type: logical, database: app, plugin: pgoutput}\n' +
      '    ignore_slots:\n      - name: by_hand\n      - {database: app, plugin: wal2json, type: logical}\n';
    const { warnings } = parseConfig(text, 'ha.yml');
    assert.deepEqual(warnings, []);
  });

  it('takes the sections of custom replica and bootstrap methods the file names as free-form (their keys are the command\'s arguments)', () => {
    const text = BASE.replace('  data_dir: /tmp/x\n', '  data_dir: /tmp/x\n  create_replica_methods: [pgbackrest, basebackup]\n  pgbackrest:\n    command: /usr/bin/pgbackrest restore\n    keep_data: true\n    stanza: main\n') +
      'bootstrap:\n  method: wal_g\n  wal_g:\n    command: /usr/local/bin/restore\n    recovery_conf:\n      restore_command: cp /a/%f %p\n';
    const { warnings } = parseConfig(text, 'ha.yml');
    assert.deepEqual(warnings, []);
    const typo = parseConfig(text.replace('  pgbackrest:\n', '  pgbackrst:\n'), 'ha.yml').warnings;
    assert.ok(typo.some((w) => w.includes('unknown key postgresql.pgbackrst')), typo.join('\n'));
  });

  it('refuses another DCS section with file:line', () => {
    const text = BASE + 'etcd:\n  host: 127.0.0.1:2379\n';
    assert.throws(
      () => parseConfig(text, 'ha.yml'),
      (err: unknown) => err instanceof ConfigErrors && err.problems.some((p) => p.message === `ha.yml:${lineOf(text, 'etcd:')}:1: etcd is not supported: hactl keeps its cluster state in its embedded Raft store (raft:) or in etcd v3 (etcd3:)`),
    );
  });

  it('accepts log levels in any case, with WARN and FATAL as Patroni does', () => {
    for (const [given, level] of [['warn', 'WARNING'], ['WARN', 'WARNING'], ['Warning', 'WARNING'], ['critical', 'CRITICAL'], ['FATAL', 'CRITICAL'], ['debug', 'DEBUG']]) {
      assert.equal(load(`log:\n  level: ${given}\n`).config.log.level, level, given);
    }
  });

  it('accepts contradictory tag pairs with a warning and goes by the boolean, as Patroni 3.3+', () => {
    const text = BASE + 'tags:\n  nofailover: true\n  failover_priority: 2\n  nosync: false\n  sync_priority: 3\n';
    const { config, warnings } = parseConfig(text, 'ha.yml');
    assert.deepEqual(warnings, [`ha.yml:${lineOf(text, 'failover_priority')}:3: Conflicting configuration between nofailover: True and failover_priority: 2. Defaulting to nofailover: True`]);
    assert.equal(config.tags.nofailover, true);
    assert.equal(config.tags.failover_priority, undefined);
    assert.equal(config.tags.sync_priority, 3, 'nosync: false with a positive priority agrees');
  });

  it("reads a key left empty (only comments under it, as in Patroni's example files) as not set", () => {
    const { config } = load('bootstrap:\n  dcs:\n    postgresql:\n      parameters:\n#        max_connections: 100\n');
    assert.deepEqual(config.bootstrap.dcs.postgresql.parameters, undefined);
  });

  it('classifies the keys of Patroni 3.x/4.x documentation', () => {
    // A sample across sections; the table is the single source (src/config/key-support.ts).
    const expect: Array<[string, string]> = [
      ['postgresql.use_unix_socket', 'ok'],
      ['postgresql.parameters.work_mem', 'ok'],
      ['tags.my_custom_tag', 'ok'],
      ['postgresql.recovery_conf.restore_command', 'ok'],
      ['postgresql.callbacks.on_role_change', 'ok'],
      ['tags.nostream', 'ok'],
      ['bootstrap.method', 'ok'],
      ['bootstrap.dcs.standby_cluster.host', 'ok'],
      ['bootstrap.dcs.master_start_timeout', 'ok'],
      ['restapi.request_queue_size', 'ignored'],
      ['zookeeper.hosts', 'refused'],
    ];
    for (const [key, support] of expect) assert.equal(ruleFor(key.split('.'))?.support, support, key);
    assert.equal(ruleFor(['postgresql', 'paramaters']), null);
  });

  it("applies Patroni's documented variables by their systematic names and reports the ones it does not honour", () => {
    const env = {
      PATRONI_POSTGRESQL_PG_CTL_TIMEOUT: '45',
      PATRONI_SUPERUSER_SSLMODE: 'require',
      HACTL_POSTGRESQL_USE_UNIX_SOCKET: 'true',
      PATRONI_LOG_LOGGERS: 'urllib3: DEBUG',
      PATRONI_ETCD_HOST: '127.0.0.1:2379',
      PATRONI_TYPO_VARIABLE: 'x',
      PATRONI_CONFIGURATION: 'scope: x',
      HACTL_SIM_SEED: '7',
    };
    const { config, warnings } = parseConfig(BASE, 'ha.yml', env);
    assert.equal(config.postgresql.pg_ctl_timeout, 45);
    assert.equal(config.postgresql.authentication.superuser.sslmode, 'require');
    assert.equal(config.postgresql.use_unix_socket, true);
    assert.deepEqual([...warnings].sort(), [
      'PATRONI_CONFIGURATION is ignored: hactl reads its configuration from the file given with -c',
      'PATRONI_ETCD_HOST (etcd.host) is ignored: not supported: hactl keeps its cluster state in its embedded Raft store (raft:) or in etcd v3 (etcd3:)',
      'PATRONI_LOG_LOGGERS (log.loggers) is ignored: tunes the Python implementation; hactl has no equivalent',
      'PATRONI_TYPO_VARIABLE is not a configuration variable hactl knows (ignored)',
    ]);
  });

  it('man/ha.yml.5 lists every key that is not simply implemented', () => {
    const man = readFileSync(path.join(REPO_ROOT, 'man', 'ha.yml.5'), 'utf8').replace(/\\&|\\f[BIR]|\\/g, '');
    const missing = KEY_RULES.filter((r) => r.support !== 'ok' && !man.includes(r.pattern.replace(/\.\*\*$/, ''))).map((r) => r.pattern);
    assert.deepEqual(missing, []);
  });

  it('classifies the dynamic configuration sent over REST (PATCH/PUT /config, edit-config) by the bootstrap.dcs rules', () => {
    assert.deepEqual(
      reportDynamicKeys({
        ttl: 30,
        primary_stop_timeout: 5,
        postgresql: { paramaters: { a: 1 }, parameters: { work_mem: '8MB' }, pg_ident: ['m a b'] },
        master_start_timeout: 300,
        retry_timeut: null,
      }),
      ['unknown key postgresql.paramaters; did you mean postgresql.parameters? (ignored)'],
    );
  });
});

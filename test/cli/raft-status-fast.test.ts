// `hactl raft status` through bin/run.js's fast path (src/cli/raft-status-fast.ts, no oclif) and
// through oclif (HACTL_FAST_PATH=off) against one real password-protected Raft member: same stdout,
// stderr and exit code, byte for byte. Needs `npm run build` (the CLI runs from dist/).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseFastArgs, FAST_FLAG_FACTS } from '../../src/cli/raft-status-fast.js';
import RaftStatus from '../../src/commands/raft/status.js';
import { RaftCluster } from '../raft/process/cluster.js';
import { freePort } from '../helpers/net.js';
import { SUITE_MS } from '../helpers/wait.js';
import { runCli, type CliResult } from '../commands/run-cli.js';

describe('the fast path parser', () => {
  it('knows the flags as oclif defines them (defaults, env variables, min, exclusive)', () => {
    const f = RaftStatus.flags;
    assert.equal(f.connect.char, FAST_FLAG_FACTS.connect.char);
    assert.equal(f.connect.env, FAST_FLAG_FACTS.connect.env);
    assert.equal(f.connect.default, FAST_FLAG_FACTS.connect.default);
    assert.equal(f.password.env, FAST_FLAG_FACTS.password.env);
    assert.equal(f.password.default, undefined);
    assert.equal(f.timeout.default, FAST_FLAG_FACTS.timeout.default);
    assert.equal((f.timeout as unknown as { min?: number }).min, FAST_FLAG_FACTS.timeout.min);
    assert.deepEqual(f.raw.exclusive, [...FAST_FLAG_FACTS.raw.exclusive]);
    assert.equal(f.json.default, false);
    assert.equal(f.raw.default, false);
    assert.deepEqual(Object.keys(f).sort(), ['connect', 'json', 'password', 'raw', 'timeout'], 'a new flag needs the fast parser taught about it');
  });

  it('takes the plain forms, with oclif defaults and non-empty env variables', () => {
    assert.deepEqual(parseFastArgs([], {}), { connect: '127.0.0.1:5010', password: undefined, timeout: 5, json: false, raw: false });
    assert.deepEqual(parseFastArgs([], { HACTL_RAFT_ADDR: 'db1:5010', HACTL_RAFT_PASSWORD: 's' }), { connect: 'db1:5010', password: 's', timeout: 5, json: false, raw: false });
    assert.deepEqual(parseFastArgs([], { HACTL_RAFT_ADDR: '', HACTL_RAFT_PASSWORD: '' }), { connect: '127.0.0.1:5010', password: undefined, timeout: 5, json: false, raw: false });
    assert.deepEqual(parseFastArgs(['-c', 'a:1', '--password=p', '--timeout', '2', '--raw'], { HACTL_RAFT_ADDR: 'b:2', HACTL_RAFT_PASSWORD: 'q' }), { connect: 'a:1', password: 'p', timeout: 2, json: false, raw: true });
    assert.deepEqual(parseFastArgs(['--connect=a:1', '--json', '--timeout=7'], {}), { connect: 'a:1', password: undefined, timeout: 7, json: true, raw: false });
  });

  it('leaves to oclif whatever oclif would answer with help, an error or extra output', () => {
    const cases = [['--help'], ['-h'], ['--bogus'], ['extra'], ['--'], ['--json', '--raw'], ['--json', '--json'], ['-c', 'a:1', '-c', 'b:2'], ['--timeout', '0'], ['--timeout', '-1'], ['--timeout', '1.5'], ['--timeout', 'x'], ['--timeout'], ['-c'], ['-c', ''], ['-c', '--json'], ['-ca:1'], ['-c=a:1'], ['--json=true'], ['--no-json'], ['--conn', 'a:1']];
    for (const args of cases) assert.equal(parseFastArgs(args, {}), null, args.join(' '));
    assert.equal(parseFastArgs([], { DEBUG: '*' }), null, 'DEBUG output is oclif’s');
  });
});

describe('hactl raft status: fast path and oclif path print the same', { timeout: SUITE_MS }, () => {
  let cluster: RaftCluster;
  let addr: string;
  const PASSWORD = 'fast-path-test-secret';

  before(async () => {
    cluster = await RaftCluster.start({ size: 1, password: PASSWORD, logLevel: 'warn' });
    addr = cluster.addrs[0]!;
    await cluster.waitForLeader();
  });
  after(async () => {
    await cluster?.destroy();
  });

  const run = (args: string[], fast: boolean, env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
    runCli(args, { env: { HACTL_RAFT_PASSWORD: PASSWORD, ...env, HACTL_FAST_PATH: fast ? 'on' : 'off' } });
  const uptimeLine = (out: string) => out.split('\n').find((l) => l.includes('uptime')) ?? '';
  const same = (a: CliResult) => ({ code: a.code, stdout: a.stdout, stderr: a.stderr }) as const;

  /**
   * Both paths at once. The member's uptime (whole seconds) is part of the output; when the two
   * requests land in different seconds the pair is run again (bounded), never compared loosely.
   */
  async function bothPaths(args: string[], env?: NodeJS.ProcessEnv): Promise<[CliResult, CliResult]> {
    let last: [CliResult, CliResult] | undefined;
    for (let attempt = 0; attempt < 10; attempt++) {
      last = await Promise.all([run(args, true, env), run(args, false, env)]);
      if (uptimeLine(last[0].stdout) === uptimeLine(last[1].stdout)) return last;
    }
    assert.fail(`10 pairs of \`hactl ${args.join(' ')}\` never saw the same uptime; last: ${uptimeLine(last![0].stdout)} / ${uptimeLine(last![1].stdout)}`);
  }

  for (const [name, extra] of [['table', []], ['--json', ['--json']], ['--raw', ['--raw']]] as const) {
    it(`${name}: same stdout, stderr and exit code`, async () => {
      for (const words of [['raft', 'status'], ['raft:status']]) {
        const [fast, oclif] = await bothPaths([...words, '-c', addr, ...extra]);
        assert.equal(oclif.code, 0, oclif.stderr);
        assert.match(oclif.stdout, /leader/);
        assert.deepEqual(same(fast), same(oclif), `${words.join(' ')} ${name}`);
      }
    });
  }

  it('the address from HACTL_RAFT_ADDR, the password from --password', async () => {
    const [fast, oclif] = await bothPaths(['raft', 'status', '--password', PASSWORD, '--raw'], { HACTL_RAFT_ADDR: addr, HACTL_RAFT_PASSWORD: '' });
    assert.equal(oclif.code, 0, oclif.stderr);
    assert.deepEqual(same(fast), same(oclif));
  });

  it('wrong password, unreachable member, bad flags: same error line and exit code', async () => {
    const down = `127.0.0.1:${await freePort()}`;
    const cases: [string[], RegExp][] = [
      [['raft', 'status', '-c', addr, '--password', 'wrong'], /^Error: raft node .*check --password or HACTL_RAFT_PASSWORD\)\n$/],
      [['raft', 'status', '-c', down, '--timeout', '2'], /^Error: cannot reach raft node 127\.0\.0\.1:\d+: connection refused\n$/],
      [['raft', 'status', '-c', addr, '--json', '--raw'], /cannot also be provided when using --(raw|json)/],
      [['raft', 'status', '-c', addr, '--timeout', '0'], /Expected an integer greater than or equal to 1/],
      [['raft', 'status', '--bogus'], /Nonexistent flag: --bogus/],
      // oclif defines no -h for commands: an unknown flag (exit 2), on both paths.
      [['raft', 'status', '-h'], /Nonexistent flag: -h/],
    ];
    for (const [args, stderr] of cases) {
      const [fast, oclif] = await Promise.all([run(args, true), run(args, false)]);
      assert.notEqual(oclif.code, 0, args.join(' '));
      assert.match(oclif.stderr, stderr, args.join(' '));
      assert.deepEqual(same(fast), same(oclif), args.join(' '));
    }
  });

  it('help still comes from oclif', async () => {
    for (const args of [['raft', 'status', '--help'], ['raft:status', '--help']]) {
      const [fast, oclif] = await Promise.all([run(args, true), run(args, false)]);
      assert.equal(oclif.code, 0, `${args.join(' ')}: ${oclif.stderr}`);
      assert.match(oclif.stdout, /USAGE\n\s+\$ hactl raft status/, args.join(' '));
      assert.deepEqual(same(fast), same(oclif), args.join(' '));
    }
    // `hactl help …` (no help plugin installed: oclif's own answer) is oclif's on both paths too.
    const [fast, oclif] = await Promise.all([run(['help', 'raft', 'status'], true), run(['help', 'raft', 'status'], false)]);
    assert.deepEqual(same(fast), same(oclif), 'help raft status');
  });
});

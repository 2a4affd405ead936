// Issue 14: in the demo and test-fixture layout the Raft journal lives in the agent's own directory
// beside each member's (`<member>.agent`, 0700), not inside the PostgreSQL user's tree, so that user
// cannot redirect a root agent's journal writes; a directory planted at that name first is refused.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { planMembers, writeMemberConfigs, FAST_TIMING } from '../../src/demo/config.js';
import { whyNotPrivateOnceMade } from '../../src/postgres/trusted-path.js';
import { cleanupPostgres, pgUser, tempDirForPostgres } from '../helpers/postgres.js';

const isRoot = process.getuid?.() === 0;
const made: string[] = [];
after(async () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
  await cleanupPostgres();
});

describe('demo layout: the Raft journal outside the PostgreSQL user\'s tree', { skip: !isRoot && 'needs root (a PostgreSQL user other than the agent\'s)' }, () => {
  it('puts raft.data_dir in <member>.agent (the agent\'s, 0700), which the trust check accepts', async () => {
    const members = await planMembers({ size: 2, makeBase: () => tempDirForPostgres('hactl-layout-') });
    made.push(...members.map((m) => m.agentDir));
    await writeMemberConfigs(members, { scope: 'layout', timing: FAST_TIMING, raft: true });
    const user = await pgUser();
    for (const m of members) {
      assert.equal(m.agentDir, `${m.base}.agent`);
      const st = statSync(m.agentDir);
      assert.deepEqual([st.uid, st.mode & 0o777], [0, 0o700]);
      assert.equal(statSync(m.base).uid, user.uid, 'the member directory is the PostgreSQL user\'s');
      assert.match(readFileSync(m.configPath, 'utf8'), new RegExp(`^  data_dir: ${m.agentDir}/raft$`, 'm'));
      assert.equal(await whyNotPrivateOnceMade(`${m.agentDir}/raft`, [0]), null);
    }
  });

  it('refuses an agent directory someone else made first', async () => {
    const [m] = await planMembers({ size: 1, makeBase: () => tempDirForPostgres('hactl-layout-') });
    made.push(m!.agentDir);
    mkdirSync(m!.agentDir, { mode: 0o700 });
    const user = await pgUser();
    chownSync(m!.agentDir, user.uid, user.gid);
    await assert.rejects(writeMemberConfigs([m!], { scope: 'layout', timing: FAST_TIMING, raft: true }), new RegExp(`^Error: ${m!.agentDir} already exists and is not a private directory of this user \\(0700\\)`));
  });
});

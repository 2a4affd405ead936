/**
 * restart, reload and reinit as the commands run them: pick the members (member-select.ts), show
 * the table and ask unless --force, send one request per member to that member's agent, print
 * `Success: …` per member, and fail with `Error:` if any member refused.
 */
import type { ClusterMember, RestartBody } from '../client/index.js';
import type { ClusterSnapshot } from '../client/index.js';
import type { ClusterCommand, ConnectionFlagValues } from './cluster-command.js';
import { confirmMembersMessage, selectMembers, type RoleFilter } from './member-select.js';
import { Aborted } from './prompts.js';
import { parseScheduleTime } from './schedule.js';
import { prettyCluster } from './show-cluster.js';

export interface MemberFlags extends ConnectionFlagValues {
  force: boolean;
  role?: string;
}

/** patronictl's `restart CLUSTER MEMBER…` and hactl's `restart MEMBER…` both work: a leading cluster name is dropped. */
export function splitClusterArg(argv: string[], scope: string): { cluster?: string; members: string[] } {
  if (argv.length > 0 && argv[0] === scope) return { cluster: argv[0], members: argv.slice(1) };
  return { members: argv };
}

async function pick(cmd: ClusterCommand, flags: MemberFlags, argv: string[], action: string, defaultRole: RoleFilter, pending = false): Promise<{ snap: ClusterSnapshot; members: ClusterMember[] }> {
  const snap = await cmd.client.cluster();
  cmd.warnUnreachable();
  const { members: names } = splitClusterArg(argv, snap.cluster.scope);
  const role = (flags.role ?? defaultRole) as RoleFilter;
  if (!flags.force || flags.role) cmd.log(prettyCluster(cmd, snap, flags));
  let chosen = names;
  if (chosen.length === 0 && action === 'reinitialize') {
    if (flags.force) throw new Aborted('name the members to reinitialize');
    const replicas = snap.cluster.members.filter((m) => m.role !== 'leader' && m.role !== 'standby_leader').map((m) => m.name);
    chosen = await cmd.prompter(action).checkbox(`Which member do you want to ${action}?`, replicas);
    if (chosen.length === 0) throw new Aborted(`Aborted ${action}: no member chosen`);
  }
  const sel = selectMembers({ cluster: snap.cluster, names: chosen, role, pending });
  if ('error' in sel) throw new Aborted(sel.error);
  return { snap, members: sel.members };
}

async function confirm(cmd: ClusterCommand, flags: MemberFlags, message: string, abort: string, action: string): Promise<void> {
  if (flags.force) return;
  if (!(await cmd.prompter(action).confirm(message, false))) throw new Aborted(abort);
}

/** Sends to each member; prints a line per member; one `Error:` at the end if any failed. */
async function eachMember(cmd: ClusterCommand, action: string, members: ClusterMember[], send: (m: ClusterMember) => Promise<string>): Promise<void> {
  const failed: string[] = [];
  for (const m of members) {
    try {
      cmd.log(await send(m));
    } catch (err) {
      failed.push(m.name);
      process.stderr.write(`Failed: ${action} for member ${m.name}: ${(err as Error).message}\n`);
    }
  }
  if (failed.length > 0) throw new Error(`${action} failed for member${failed.length > 1 ? 's' : ''} ${failed.join(', ')}`);
}

export interface RestartFlags extends MemberFlags {
  pending: boolean;
  any?: boolean;
  scheduled?: string;
  'pg-version'?: string;
  'start-timeout'?: number;
}

export async function runRestart(cmd: ClusterCommand, flags: RestartFlags, argv: string[]): Promise<void> {
  await cmd.connect(flags);
  try {
    const picked = await pick(cmd, flags, argv, 'restart', 'any', flags.pending && flags.scheduled === undefined);
    const { snap } = picked;
    // patronictl restart --any: one member, chosen at random among those matching.
    const members = flags.any ? [picked.members[Math.floor(Math.random() * picked.members.length)]!] : picked.members;
    let when = flags.scheduled ?? (flags.force ? 'now' : undefined);
    if (when === undefined) when = await cmd.prompter('restart').input('When should the restart take place (e.g. 2026-12-01T02:00)', 'now');
    const parsed = parseScheduleTime(when);
    if ('error' in parsed) throw new Aborted(parsed.error);
    const scheduledAt = parsed.iso;
    if (scheduledAt !== null && snap.cluster.pause) throw new Aborted("Can't schedule restart in the paused state");
    await confirm(cmd, flags, confirmMembersMessage('restart', members, scheduledAt, flags.pending), scheduledAt ? 'Aborted scheduled restart' : 'Aborted restart', 'restart');
    const body: RestartBody = {};
    if (flags.pending) body.restart_pending = true;
    if (flags['pg-version']) body.postgres_version = flags['pg-version'];
    if (flags['start-timeout']) body.timeout = flags['start-timeout'];
    if (scheduledAt) body.schedule = scheduledAt;
    await eachMember(cmd, 'restart', members, async (m) => {
      // --force replaces a restart already scheduled on the member (patronictl does the same).
      if (scheduledAt && flags.force && m.scheduled_restart) await cmd.client.cancelRestart(m);
      // The agent answers once PostgreSQL is up again: allow its start timeout (primary_start_timeout, 300 s by default).
      const reply = await cmd.client.restart(m, body, ((flags['start-timeout'] ?? 300) + 30) * 1000);
      return reply.status === 202 ? `Success: restart scheduled on member ${m.name}` : `Success: restart on member ${m.name}`;
    });
  } catch (err) {
    cmd.fail(err);
  }
}

export async function runReload(cmd: ClusterCommand, flags: MemberFlags, argv: string[]): Promise<void> {
  await cmd.connect(flags);
  try {
    const { members } = await pick(cmd, flags, argv, 'reload', 'any');
    await confirm(cmd, flags, confirmMembersMessage('reload', members, null), 'Aborted reload', 'reload');
    const config = await cmd.client.dynamicConfig().catch(() => ({}) as Record<string, unknown>);
    const loopWait = typeof config.loop_wait === 'number' ? config.loop_wait : 10;
    await eachMember(cmd, 'reload', members, async (m) => {
      const reply = await cmd.client.reload(m);
      return reply.status === 202
        ? `Reload request received for member ${m.name} and will be processed within ${loopWait} seconds`
        : `No changes to apply on member ${m.name}`;
    });
  } catch (err) {
    cmd.fail(err);
  }
}

export interface ReinitFlags extends MemberFlags {
  wait: boolean;
  'from-leader': boolean;
}

export async function runReinit(cmd: ClusterCommand, flags: ReinitFlags, argv: string[]): Promise<void> {
  await cmd.connect(flags);
  try {
    const { members } = await pick(cmd, flags, argv, 'reinitialize', 'replica');
    await confirm(cmd, flags, confirmMembersMessage('reinitialize', members, null), 'Aborted reinitialize', 'reinitialize');
    const started: ClusterMember[] = [];
    await eachMember(cmd, 'reinitialize', members, async (m) => {
      const body = { force: flags.force, from_leader: flags['from-leader'] };
      try {
        await cmd.client.reinitialize(m, body);
      } catch (err) {
        const text = (err as { text?: string }).text ?? '';
        if (flags.force || !text.trim().endsWith('already in progress')) throw err;
        if (!(await cmd.prompter('reinitialize').confirm(`${text.trim()}. Do you want to cancel it and reinitialize anyway?`, false))) throw err;
        await cmd.client.reinitialize(m, { ...body, force: true });
      }
      started.push(m);
      return `Success: reinitialize for member ${m.name}`;
    });
    if (flags.wait && started.length > 0) {
      const { waitForReinit } = await import('./reinit-wait.js');
      await waitForReinit(cmd, started);
    }
  } catch (err) {
    cmd.fail(err);
  }
}

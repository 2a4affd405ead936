/**
 * The failover explanation (issue 17: `hactl failover --dry-run`, GET /failover/candidates, the
 * reasons in switchover refusals): which member would take the leader key now and, for every
 * other member, why not. Pure, like decide().
 *
 * It does not restate the rules: for each member it builds the decide() input that member would
 * have — its own position, timeline and tags from its `/patroni` answer, everyone else's answers as
 * its peers — and asks the leader race's own `raceExclusion` (or, for a failover to a named
 * candidate while a leader runs, the leader's own `handoverVerdicts`). What the race would log for
 * that member comes back as its notes.
 *
 * What it cannot see is said in its result rather than guessed: reachability is as seen from the
 * answering member (a partition may look different from elsewhere), and a peer's pre_promote
 * backoff is not published.
 */
import type { ClusterView, MemberTags } from '../../dcs/index.js';
import { Ctx } from './context.js';
import { failoverPriority, isNoFailover, walPosition, type Exclusion } from './candidate-facts.js';
import { clusterTimeline, handoverVerdicts, lagBytes, limitationOf } from './failover-eligibility.js';
import { raceExclusion } from './leader-race.js';
import type { DecideInput, LocalPostgresState, MemberHealth } from './types.js';

/**
 * `leader-lost`: no candidate and a leader runs — who would win if the leader failed now.
 * `no-leader`: the race as it stands (the key is free). `handover`: a failover/switchover to the
 * candidate while a leader runs (the leader's checks). `manual`: a failover to the candidate with no leader.
 */
export type ExplanationScenario = 'leader-lost' | 'no-leader' | 'handover' | 'manual';

export interface ExplainRequest {
  /** This member's decide() input for now, with every other member's `/patroni` answer in `memberHealth`. */
  input: DecideInput;
  /** This member as its peers read it in its `/patroni`: a failed required watchdog, a fence veto. */
  selfWatchdogFailed: boolean;
  selfFenceVeto: string | null;
  /** The member a failover/switchover would go to; null: the automatic race. */
  candidate: string | null;
  kind: 'failover' | 'switchover';
}

export interface MemberExplanation {
  name: string;
  /** As seen by the answering member: `primary`, `replica`, `standby_leader`, `unknown`. */
  role: MemberHealth['role'];
  state: string;
  reachable: boolean;
  walLsn: bigint | null;
  /** Bytes behind the position this member's race measures against; null when unknown. */
  lagBytes: bigint | null;
  timeline: number | null;
  failoverPriority: number;
  /** Null: it would race (it wins when it is the only one). */
  exclusion: Exclusion | null;
  /** The lines the race would log for it (Patroni's wording). */
  notes: string[];
}

export interface FailoverExplanation {
  scenario: ExplanationScenario;
  /** The member that answered: reachability is its view. */
  answeredBy: string;
  leader: string | null;
  candidate: string | null;
  paused: boolean;
  /** The one member that would take the key; null when none or several would race. */
  winner: string | null;
  /** Members that would race (more than one: the first to take the key wins). */
  racers: string[];
  summary: string;
  maximumLagOnFailoverBytes: bigint;
  /** The primary position the `status` key last published; null when never written. */
  lastPrimaryLsn: bigint | null;
  clusterTimeline: number;
  synchronousMode: 'off' | 'on' | 'quorum';
  members: MemberExplanation[];
}

const unreachable: Exclusion = { code: 'unreachable', reason: 'not reachable' };

export function explainFailover(req: ExplainRequest): FailoverExplanation {
  const { input } = req;
  const view = input.view;
  if (!view || !input.dcsOk) throw new Error('explainFailover needs a cluster view read this cycle');
  const me = input.config.name;
  const leader = view.leader?.name ?? null;
  const scenario: ExplanationScenario =
    leader === null ? (req.candidate === null ? 'no-leader' : 'manual') : req.candidate !== null || req.kind === 'switchover' ? 'handover' : 'leader-lost';

  const health = new Map<string, MemberHealth>(input.memberHealth.map((h) => [h.name, h]));
  health.set(me, selfHealth(req));
  const request = { leader: req.kind === 'switchover' ? leader : null, candidate: req.candidate, scheduledAt: null, keyVersion: view.failover?.keyVersion ?? 0 };
  // The leader's check of the request (Patroni's is_failover_possible), on the view as it is.
  const handover = scenario === 'handover' ? handoverFor(req, { ...view, failover: request }, health, leader!) : null;
  let raceView: ClusterView = view;
  if (scenario === 'leader-lost' || scenario === 'handover') {
    // As if the leader died now (or stepped down for the switchover): its key is gone and it
    // answers nobody; after a handover the request stays in the key for the race.
    raceView = { ...view, leader: null, failover: scenario === 'handover' ? request : null };
    const last = health.get(leader!);
    if (last) health.set(leader!, { ...last, reachable: false });
  } else if (scenario === 'manual') {
    raceView = { ...view, failover: request };
  }

  const names = [...new Set([...view.members.map((m) => m.name), me])].sort();
  const members = names.map((name): MemberExplanation => {
    const facts = scenario === 'leader-lost' && name === leader ? input.memberHealth.find((h) => h.name === name) : health.get(name);
    const ctx = new Ctx(inputFor(req, name, raceView, health), raceView);
    const walLsn = name === me ? walPosition(input.local) : (facts?.walLsn ?? null);
    const base = {
      name,
      role: name === me ? selfHealth(req).role : (facts?.role ?? 'unknown'),
      state: name === me ? selfState(input.local) : (facts?.state ?? 'unknown'),
      reachable: name === me || facts?.reachable === true,
      walLsn,
      lagBytes: walLsn === null ? null : lagBytes(ctx, walLsn),
      timeline: name === me ? input.local.timeline : (facts?.timeline ?? null),
      failoverPriority: name === me ? failoverPriority(input.config.tags) : (facts?.failoverPriority ?? 0),
    };
    let exclusion: Exclusion | null;
    if (name === leader && (scenario === 'leader-lost' || scenario === 'handover')) {
      exclusion = {
        code: 'leader',
        reason:
          scenario === 'leader-lost'
            ? 'the current leader (this dry run assumes it failed)'
            : req.candidate === leader
              ? `already the leader: no need to ${req.kind}`
              : `the current leader: it would hand over${req.candidate === null ? '' : ` to ${req.candidate}`}`,
      };
    } else if (!base.reachable) {
      exclusion = unreachable;
    } else if (handover && req.candidate !== null && name !== req.candidate) {
      exclusion = { code: 'manual', reason: `a ${req.kind} to ${req.candidate} is requested` };
    } else if (handover && (handover.verdicts.get(name) ?? null) !== null) {
      // The leader would not hand over to it: it never gets to race.
      exclusion = handover.verdicts.get(name)!;
    } else if (handover && !handover.possible) {
      exclusion = { code: 'manual', reason: `the leader would refuse the ${req.kind}: no member can take over` };
    } else {
      // What makes it refuse the key whatever the race says (a failed required watchdog, a fence
      // that is not running: the root cause an operator must fix), then its own race as its loop runs it.
      exclusion = keyVeto(name === me ? selfHealth(req) : health.get(name)) ?? raceExclusion(ctx);
    }
    const notes = [...(handover?.notes.get(name) ?? []), ...ctx.notes.map((n) => n.message)];
    return { ...base, exclusion, notes };
  });

  const racers = members.filter((m) => m.exclusion === null).map((m) => m.name);
  const winner = racers.length === 1 ? racers[0]! : null;
  return {
    scenario,
    answeredBy: me,
    leader,
    candidate: req.candidate,
    paused: input.config.pause,
    winner,
    racers,
    summary: summaryOf(scenario, leader, req, racers),
    maximumLagOnFailoverBytes: input.config.maximumLagOnFailoverBytes,
    lastPrimaryLsn: view.status.lastLsn,
    clusterTimeline: clusterTimeline(view),
    synchronousMode: input.config.synchronousMode ?? 'off',
    members,
  };
}

/** A failed required watchdog or a fence veto: the member would decide to race but refuse the key. */
function keyVeto(facts: MemberHealth | undefined): Exclusion | null {
  const limitation = limitationOf(facts);
  return limitation && (limitation.code === 'watchdog' || limitation.code === 'fence') ? limitation : null;
}

/**
 * The leader's check of the request (Patroni's is_failover_possible): for each member it looked at,
 * why it could not take over (null: it could), and the line it logged about it.
 */
function handoverFor(
  req: ExplainRequest,
  view: ClusterView,
  health: Map<string, MemberHealth>,
  leader: string,
): { possible: boolean; verdicts: Map<string, Exclusion | null>; notes: Map<string, string[]> } {
  const ctx = new Ctx(inputFor(req, leader, view, health), view);
  const verdicts = new Map(handoverVerdicts(ctx).map((v) => [v.name, v.exclusion]));
  const notes = new Map<string, string[]>();
  for (const note of ctx.notes) {
    const about = /^(?:Member|Timeline \S+ of member) (\S+)/.exec(note.message)?.[1];
    if (about) notes.set(about, [...(notes.get(about) ?? []), note.message]);
  }
  const candidate = req.candidate;
  if (candidate !== null && !verdicts.has(candidate) && candidate !== leader) {
    // The leader does not even ask it (Patroni's candidate list): say why.
    const member = view.members.find((m) => m.name === candidate);
    if (!member) verdicts.set(candidate, { code: 'unreachable', reason: 'not a member of the cluster' });
    else if (isNoFailover(member.tags)) verdicts.set(candidate, { code: 'nofailover', reason: 'not allowed to promote' });
    else verdicts.set(candidate, { code: 'unreachable', reason: 'publishes no REST API address' });
  }
  return { possible: [...verdicts.values()].some((e) => e === null), verdicts, notes };
}

function summaryOf(scenario: ExplanationScenario, leader: string | null, req: ExplainRequest, racers: string[]): string {
  const to = req.candidate === null ? '' : ` to ${req.candidate}`;
  const prefix =
    scenario === 'leader-lost'
      ? `if the leader ${leader} failed now, `
      : scenario === 'handover' || scenario === 'manual'
        ? `a ${req.kind}${to}: `
        : 'the leader key is free: ';
  if (racers.length === 1) return `${prefix}${racers[0]} would take the leader key`;
  if (racers.length > 1) return `${prefix}${racers.join(', ')} would race; the first to take the leader key wins`;
  return `${prefix}no member would take the leader key`;
}

/** This member as its peers see it in its `/patroni`. */
function selfHealth(req: ExplainRequest): MemberHealth {
  const { local, config } = req.input;
  const role: MemberHealth['role'] = local.role === 'primary' ? 'primary' : local.role === 'replica' ? 'replica' : 'unknown';
  return {
    name: config.name,
    reachable: true,
    role,
    state: selfState(local),
    walLsn: local.role === 'primary' || local.role === 'replica' ? walPosition(local) : null,
    timeline: local.timeline,
    nofailover: isNoFailover(config.tags),
    failoverPriority: failoverPriority(config.tags),
    watchdogFailed: req.selfWatchdogFailed,
    fenceVeto: req.selfFenceVeto,
  };
}

function selfState(local: LocalPostgresState): string {
  return local.role === 'primary' || local.role === 'replica' ? 'running' : local.role;
}

/** The decide() input `name` would have: its own state from its `/patroni`, everyone else as its peers. */
function inputFor(req: ExplainRequest, name: string, view: ClusterView, health: Map<string, MemberHealth>): DecideInput {
  const { input } = req;
  const peers = [...health.values()].filter((h) => h.name !== name);
  if (name === input.config.name) return { ...input, view, memberHealth: peers };
  const facts = health.get(name);
  const member = view.members.find((m) => m.name === name);
  return {
    ...input,
    view,
    local: localStateOf(facts, view),
    config: { ...input.config, name, tags: member ? member.tags : tagsOf(facts) },
    memberHealth: peers,
    // Not published by a peer: its pre_promote backoff and long actions (the result says so).
    self: { ...input.self, raceBackoffUntilMonoMs: null, longAction: null },
  };
}

function tagsOf(facts: MemberHealth | undefined): MemberTags {
  return facts?.nofailover ? { nofailover: true } : { failover_priority: facts?.failoverPriority ?? 1 };
}

/** A peer's PostgreSQL as its own loop would observe it, from its `/patroni` answer. */
function localStateOf(facts: MemberHealth | undefined, view: ClusterView): LocalPostgresState {
  const running = facts?.reachable === true && facts.state === 'running';
  const role: LocalPostgresState['role'] = !running
    ? facts?.state === 'starting'
      ? 'starting'
      : 'stopped'
    : facts.role === 'primary'
      ? 'primary'
      : facts.role === 'unknown'
        ? 'stopped'
        : 'replica';
  const wal = facts?.walLsn ?? null;
  return {
    role,
    dataDir: 'valid',
    systemIdentifier: view.initialize,
    timeline: facts?.timeline ?? null,
    writeLsn: role === 'primary' ? wal : null,
    receivedLsn: role === 'primary' ? null : wal,
    replayedLsn: role === 'primary' ? null : wal,
    receivingFrom: null,
    wasPrimary: role === 'primary',
    pendingRestart: false,
    rewindCapable: false,
  };
}

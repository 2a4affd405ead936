/**
 * One function per endpoint. Each takes the request context and answers through http-io; errors
 * are thrown as `ApiError` and answered by the dispatcher in server.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClusterView } from '../../dcs/index.js';
import { clusterJson, historyRows } from './cluster-json.js';
import { decorateStatus, healthCheckCode, livenessCode, readinessFailure } from './health.js';
import { readJsonObject, sendJson, sendMetrics, sendStatusOnly, sendText, type ResponseContext } from './http-io.js';
import { renderMetrics } from './metrics.js';
import { parseReinitialize, validateRestart, validateSwitchover } from './requests.js';
import type { MemberStatus } from '../../protocol/index.js';
import { ApiError, type ActionResult, type AgentApi, type HaSnapshot } from './types.js';

export interface HandlerContext extends ResponseContext {
  agent: AgentApi;
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  query: URLSearchParams;
  /** HEAD/OPTIONS: answer the status code only. */
  statusOnly: boolean;
  nowMs: number;
  maxBodyBytes: number;
  version: string;
  scope: string;
  name: string;
}

async function snapshot(ctx: HandlerContext, live = false): Promise<{ status: MemberStatus; ha: HaSnapshot; view: ClusterView | null }> {
  const status = live && ctx.agent.liveMemberStatus ? ctx.agent.liveMemberStatus() : ctx.agent.memberStatus();
  const [rawStatus, view] = await Promise.all([status, ctx.agent.clusterView()]);
  const ha = ctx.agent.haSnapshot();
  return { status: decorateStatus(rawStatus, ha, view), ha, view };
}

/** A view for /history and /config: the loop's, else a fresh read; 503 without one. */
async function someView(ctx: HandlerContext, fresh: boolean): Promise<ClusterView> {
  const view = (fresh ? null : await ctx.agent.clusterView()) ?? (await ctx.agent.clusterView({ fresh: true }));
  if (!view) throw new ApiError(503, 'DCS is not accessible');
  return view;
}

function answer(ctx: HandlerContext, status: number, json: unknown): void {
  if (ctx.statusOnly) sendStatusOnly(ctx.res, status);
  else sendJson(ctx.res, ctx, status, json);
}

export async function getHealth(ctx: HandlerContext): Promise<void> {
  const { status, ha, view } = await snapshot(ctx);
  answer(ctx, healthCheckCode(ctx.path, ctx.query, status, ha, view), status);
}

export async function getPatroni(ctx: HandlerContext): Promise<void> {
  const { status } = await snapshot(ctx, true);
  answer(ctx, 200, status);
}

export async function getLiveness(ctx: HandlerContext): Promise<void> {
  const status = await ctx.agent.memberStatus();
  sendStatusOnly(ctx.res, livenessCode(status, ctx.agent.haSnapshot(), ctx.nowMs));
}

export async function getReadiness(ctx: HandlerContext): Promise<void> {
  const { status, ha, view } = await snapshot(ctx);
  const failure = readinessFailure(ctx.query, status, ha, view);
  // Patroni sends no body; the reason helps whoever reads a failing probe by hand.
  if (failure === null || ctx.statusOnly) sendStatusOnly(ctx.res, failure === null ? 200 : 503);
  else sendText(ctx.res, ctx, 503, failure);
}

export async function getCluster(ctx: HandlerContext): Promise<void> {
  answer(ctx, 200, clusterJson(await someView(ctx, true), ctx.scope));
}

export async function getHistory(ctx: HandlerContext): Promise<void> {
  answer(ctx, 200, historyRows(await someView(ctx, false)));
}

export async function getConfig(ctx: HandlerContext): Promise<void> {
  const view = await someView(ctx, false);
  if (!view.config) throw new ApiError(502, 'no dynamic configuration in the DCS');
  answer(ctx, 200, view.config.data);
}

export async function getMetrics(ctx: HandlerContext): Promise<void> {
  const { status, ha, view } = await snapshot(ctx);
  if (ctx.statusOnly) return sendStatusOnly(ctx.res, 200);
  sendMetrics(ctx.res, ctx, renderMetrics({ status, ha, view, version: ctx.version, scope: ctx.scope, name: ctx.name }));
}

/**
 * GET /failover/candidates[?candidate=X][&kind=switchover] (hactl only): the failover explanation,
 * plus what POST /failover (or /switchover) would refuse up front for that candidate. Other
 * /failover paths stay health checks, as every unknown GET path is in Patroni.
 */
export async function getFailoverCandidates(ctx: HandlerContext): Promise<void> {
  if (ctx.path.replace(/\/+$/, '') !== '/failover/candidates') return getHealth(ctx);
  const candidate = ctx.query.get('candidate') || null;
  const kind = ctx.query.get('kind') ?? 'failover';
  if (kind !== 'failover' && kind !== 'switchover') throw new ApiError(400, `kind must be failover or switchover, not ${JSON.stringify(kind)}`);
  const view = await ctx.agent.clusterView({ fresh: true });
  if (!view) throw new ApiError(503, 'DCS is not accessible');
  let refusal: { status: number; text: string } | undefined;
  if (candidate !== null || kind === 'switchover') {
    const request = kind === 'switchover' ? { leader: view.leader?.name ?? null, candidate } : { candidate };
    try {
      validateSwitchover(kind, request, view, ctx.nowMs, ctx.agent.haSnapshot().paused);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      refusal = { status: error.status, text: error.text };
    }
  }
  const body = await ctx.agent.failoverCandidates({ view, candidate, kind });
  answer(ctx, 200, refusal ? { ...body, refusal } : body);
}

function sendResult(ctx: HandlerContext, result: ActionResult): void {
  if ('text' in result) sendText(ctx.res, ctx, result.status, result.text);
  else sendJson(ctx.res, ctx, result.status, result.body);
}

function body(ctx: HandlerContext, optional: boolean): Promise<Record<string, unknown>> {
  return readJsonObject(ctx.req, { optional, maxBytes: ctx.maxBodyBytes });
}

export function postSwitchover(endpoint: 'switchover' | 'failover') {
  return async (ctx: HandlerContext): Promise<void> => {
    const request = await body(ctx, false);
    const view = await ctx.agent.clusterView({ fresh: true });
    const validated = validateSwitchover(endpoint, request, view, ctx.nowMs, ctx.agent.haSnapshot().paused);
    const result =
      endpoint === 'switchover' ? await ctx.agent.requestSwitchover(validated) : await ctx.agent.requestFailover(validated);
    sendResult(ctx, result);
  };
}

export async function deleteSwitchover(ctx: HandlerContext): Promise<void> {
  sendResult(ctx, await ctx.agent.cancelSwitchover());
}

export async function postRestart(ctx: HandlerContext): Promise<void> {
  const request = await body(ctx, true);
  const view = await ctx.agent.clusterView();
  sendResult(ctx, await ctx.agent.restart(validateRestart(request, view, ctx.nowMs, ctx.agent.haSnapshot().paused)));
}

export async function deleteRestart(ctx: HandlerContext): Promise<void> {
  sendResult(ctx, await ctx.agent.cancelRestart());
}

export async function postReinitialize(ctx: HandlerContext): Promise<void> {
  sendResult(ctx, await ctx.agent.reinitialize(parseReinitialize(await body(ctx, true))));
}

export async function postReload(ctx: HandlerContext): Promise<void> {
  sendResult(ctx, await ctx.agent.reload());
}

export async function patchConfig(ctx: HandlerContext): Promise<void> {
  sendResult(ctx, await ctx.agent.patchConfig(await body(ctx, false)));
}

export async function getFailsafe(ctx: HandlerContext): Promise<void> {
  const topology = ctx.agent.failsafeTopology();
  // Patroni answers 502 while no failsafe key is known (failsafe_mode off, or not written yet).
  if (topology === null) throw new ApiError(502, 'no failsafe key is known');
  answer(ctx, 200, topology);
}

export async function postFailsafe(ctx: HandlerContext): Promise<void> {
  const reply = ctx.agent.acceptFailsafe(await body(ctx, false));
  sendText(ctx.res, ctx, reply.status, reply.text, reply.lsn === undefined ? {} : { lsn: reply.lsn });
}

export async function putConfig(ctx: HandlerContext): Promise<void> {
  sendResult(ctx, await ctx.agent.putConfig(await body(ctx, false)));
}

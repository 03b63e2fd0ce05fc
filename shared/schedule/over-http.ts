/**
 * A scheduled function served over HTTP, as a cluster fires it: Knative's PingSource POSTs a CloudEvent
 * (type dev.knative.sources.ping) on each cron tick, OpenFaaS's cron-connector POSTs to the function. Any POST
 * is one invocation (run-scheduled.ts), whatever its body says: the tick itself is the message.
 *
 *   POST (any path)   200 application/json, the run's summary, or `{ "function": …, "skipped": "locked" }`
 *                     when another run holds the function's lock; 500 problem+json when no pass succeeded
 *   GET /healthz, /readyz   the probes, as every function process answers them
 *   anything else     405 problem+json (Allow: POST)
 */
import type { ScheduleFunction } from '../function.ts';
import type { Deps } from '../platform.ts';
import { Problem } from '../problem.ts';
import { problemReply, requestIdOf, type IncomingCall, type OutgoingReply } from '../http/harness.ts';
import { probeReply } from '../http/probes.ts';
import { apiSecurityHeaders } from '../http/security-headers.ts';
import { runScheduled, type RunOptions } from './run-scheduled.ts';

export interface ScheduleCall {
  method: string | undefined;
  path: string;
  headers: IncomingCall['headers'];
  /** Set when the host could not read the body (too large): bad input, answered as such. */
  bodyProblem?: Problem;
}

export async function scheduleReply(fn: ScheduleFunction, call: ScheduleCall, getDeps: () => Promise<Deps>, options: RunOptions = {}): Promise<OutgoingReply> {
  const requestId = requestIdOf(call.headers);
  let deps: Deps | undefined;
  try {
    deps = await getDeps();
    const probe = await probeReply(call.method, call.path, deps);
    if (probe) return probe;
    if (call.method !== 'POST') {
      throw new Problem('method-not-allowed', `${fn.name} is a scheduled function: a POST (a PingSource CloudEvent, a cron-connector call) runs it`, { headers: { allow: 'POST' } });
    }
    if (call.bodyProblem) throw call.bodyProblem;
    const run = await runScheduled(fn, deps, options);
    return { status: 200, headers: { ...apiSecurityHeaders, 'content-type': 'application/json; charset=utf-8', 'x-request-id': requestId }, body: JSON.stringify(run) };
  } catch (error) {
    const problem = error instanceof Problem ? error : new Problem('internal', `${fn.name} failed`, { cause: error });
    // Without deps the platform failed to start, which the process reports (and exits on) itself.
    if (problem.status >= 500) deps?.log.error({ err: error, fn: fn.name }, 'scheduled function failed');
    return problemReply(problem, requestId, call.path);
  }
}

/**
 * The probes every process answers, whatever hosts it (the gateway, a functions-framework process, the
 * relay, the bridge, the triggers), in two places:
 *
 *   public port (PORT)            /healthz (alive), /readyz: `{"ready":true|false}`, 200 or 503, nothing more
 *   internal port (METRICS_PORT)  /healthz, /readyz with each port's adapter check by name, /metrics (Prometheus)
 *
 * The public port is what Kubernetes probes and load balancers reach, and so can anyone who reaches the API:
 * it tells whether the process is ready, never why not (an adapter's error names hosts and users) nor the
 * metrics. internal-server.ts serves the second set.
 */
import type { Deps } from '../platform.ts';
import { renderMetrics } from '../metrics.ts';
import { dependencyChecks } from '../bus/outage.ts';
import { randomUUID } from 'node:crypto';
import { Problem } from '../problem.ts';
import { problemReply, type OutgoingReply } from './harness.ts';

const jsonType = 'application/json; charset=utf-8';

type ProbedDeps = Pick<Deps, 'db' | 'cache' | 'bus' | 'telemetry'>;

async function readiness(deps: ProbedDeps, detail: boolean): Promise<OutgoingReply> {
  const checks = await dependencyChecks(deps);
  const ready = Object.values(checks).every((check) => check === 'ok');
  const body = detail ? { ready, checks } : { ready };
  return { status: ready ? 200 : 503, headers: { 'content-type': jsonType }, body: JSON.stringify(body) };
}

const healthy = (): OutgoingReply => ({ status: 200, headers: { 'content-type': jsonType }, body: '{"status":"ok"}' });

/**
 * The public port's probe answer for a GET of `path`; undefined when the path is not a probe. `/metrics` is
 * answered 404 here, as the gateway answers any unknown path, so that no host (an event function's
 * functions-framework process would answer it 500) leaves it to something else.
 */
export async function probeReply(method: string | undefined, path: string, deps: ProbedDeps): Promise<OutgoingReply | undefined> {
  if (method !== 'GET') return undefined;
  if (path === '/healthz') return healthy();
  if (path === '/readyz') return readiness(deps, false);
  if (path === '/metrics') return problemReply(new Problem('not-found', `No route for GET ${path}`), randomUUID(), path);
  return undefined;
}

/** The internal port's answer for a GET of `path`; undefined when it serves no such path. */
export async function internalReply(method: string | undefined, path: string, deps: ProbedDeps): Promise<OutgoingReply | undefined> {
  if (method !== 'GET') return undefined;
  if (path === '/healthz') return healthy();
  if (path === '/readyz') return readiness(deps, true);
  if (path === '/metrics') {
    const metrics = await renderMetrics();
    return { status: 200, headers: { 'content-type': metrics.contentType }, body: metrics.body };
  }
  return undefined;
}

/**
 * The probes every process answers, whatever hosts it (the gateway, a functions-framework process, the
 * relay, the bridge, the triggers): `/healthz` (alive), `/readyz` (each port's adapter answers, by name) and
 * `/metrics` (Prometheus text).
 */
import type { Deps } from '../platform.ts';
import { renderMetrics } from '../metrics.ts';
import { dependencyChecks } from '../bus/outage.ts';
import type { OutgoingReply } from './harness.ts';

const jsonType = 'application/json; charset=utf-8';

async function readiness(deps: Pick<Deps, 'db' | 'cache' | 'bus' | 'telemetry'>): Promise<OutgoingReply> {
  const checks = await dependencyChecks(deps);
  const ready = Object.values(checks).every((check) => check === 'ok');
  return { status: ready ? 200 : 503, headers: { 'content-type': jsonType }, body: JSON.stringify({ ready, checks }) };
}

/** The probe's answer for a GET of `path`; undefined when the path is not a probe. */
export async function probeReply(method: string | undefined, path: string, deps: Pick<Deps, 'db' | 'cache' | 'bus' | 'telemetry'>): Promise<OutgoingReply | undefined> {
  if (method !== 'GET') return undefined;
  if (path === '/healthz') return { status: 200, headers: { 'content-type': jsonType }, body: '{"status":"ok"}' };
  if (path === '/readyz') return readiness(deps);
  if (path === '/metrics') {
    const metrics = await renderMetrics();
    return { status: 200, headers: { 'content-type': metrics.contentType }, body: metrics.body };
  }
  return undefined;
}

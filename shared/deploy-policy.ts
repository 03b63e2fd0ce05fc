/**
 * How a function is run in a cluster, declared beside the function (`deploy: warmForDevices` in its file) and
 * defaulted from its kind here. The renderers (deploy/renderers/knative.ts, openfaas.ts) only format it.
 *
 *   export default defineHttpFunction({ name: 'jwks', …, deploy: { minScale: 1, maxScale: 5, why: '…' } });
 *   deployPolicyOf(jwks)   // { minScale: 1, maxScale: 5, concurrency: 50, sourceParallelism: 10, why: '…' }
 *
 * What stays warm (minScale 1), and why; everything else scales to zero when idle:
 * - the functions devices call and the telemetry path behind them (`warmForDevices`): devices send all the
 *   time, and a cold start would delay every device of a burst, not one user;
 * - jwks: every other function fetches the verification keys at its own cold start, so a cold jwks would
 *   make every other cold start wait for a second one.
 * Scheduled functions scale to zero: a PingSource or cron-connector wakes them on their tick.
 */
import type { PlatformFunction } from './function.ts';

export interface DeployPolicy {
  /** Pods (OpenFaaS: replicas) kept when idle; 0 scales to zero. */
  minScale: number;
  maxScale: number;
  /** Requests in flight per pod that the autoscaler aims at. */
  concurrency: number;
  /** Events an event function's source posts at once (its prefetch); unused by other kinds. */
  sourceParallelism: number;
  /** Why the function runs so: written into the rendered file beside it. */
  why: string;
}

/** What a function declares: only where it differs from its kind's default. */
export type DeployPolicyDeclaration = Partial<DeployPolicy>;

const byKind: Record<PlatformFunction['kind'], DeployPolicy> = {
  http: { minScale: 0, maxScale: 10, concurrency: 50, sourceParallelism: 10, why: 'called now and then: scales to zero when idle' },
  event: { minScale: 0, maxScale: 10, concurrency: 50, sourceParallelism: 10, why: 'fed now and then from its queue: scales to zero when idle' },
  // One pod is enough: a run takes a lock per function, so a second pod could only skip.
  schedule: { minScale: 0, maxScale: 1, concurrency: 10, sourceParallelism: 10, why: 'woken by its schedule (PingSource, cron-connector): scales to zero between runs' },
};

/** The policy a function runs with: its kind's default, overridden by what it declares. */
export function deployPolicyOf(fn: PlatformFunction): DeployPolicy {
  return { ...byKind[fn.kind], ...fn.deploy };
}

/** The functions devices call, and the telemetry path behind them: one pod always warm, room for bursts. */
export const warmForDevices: DeployPolicyDeclaration = {
  minScale: 1,
  maxScale: 20,
  concurrency: 100,
  sourceParallelism: 200,
  why: 'devices send through it all the time: one pod stays warm so a burst of devices never waits for a cold start',
};

/** argon2id takes 19 MiB and a libuv thread (4 by default) per hash: more in flight only queues, so scale out early. */
export const hashesPasswords: DeployPolicyDeclaration = {
  concurrency: 4,
  why: 'hashes passwords (argon2id, 4 at a time per process): scale out early rather than queue',
};

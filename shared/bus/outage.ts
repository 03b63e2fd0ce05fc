/**
 * Telling an outage from a bad event. An event function fails either because something it needs is down
 * (PostgreSQL restarting, MongoDB unreachable, RabbitMQ gone for a moment): then the event is fine and must
 * wait, however long it takes; or because the event can never be processed: then waiting is useless and it
 * belongs in the dead-letter queue at once, with the reason, for `iotfn dead-letters` to show and replay.
 *
 *   if (isOutage(error)) await untilReady(deps);   // the dependencies answer again
 */
import type { Deps } from '../platform.ts';
import { Problem } from '../problem.ts';

/** Node's socket errors: the other side is not there (yet). */
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/**
 * PostgreSQL SQLSTATEs that say "try again later", not "this is wrong": connection exceptions (08),
 * insufficient resources (53), operator intervention (57: shutdown, crash recovery, cannot connect now),
 * serialization failures and deadlocks (40001, 40P01).
 */
function transientSqlState(code: string): boolean {
  return /^(08|53|57)/.test(code) || code === '40001' || code === '40P01';
}

/** Messages of pg and its pool when the server went away; they carry no code. */
const lostConnection = /connection terminated|timeout exceeded when trying to connect|connection is closed|client has encountered a connection error|not queryable|the database system is (starting up|shutting down)/i;

/** Whether an error means a dependency is unavailable (wait and retry) rather than a bad event. */
export function isOutage(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    if (current instanceof Problem) return current.status === 503;
    const { code, name, message } = current as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof code === 'string' && (networkCodes.has(code) || (/^[0-9A-Z]{5}$/.test(code) && transientSqlState(code)))) return true;
    // MongoDB's driver names its network and server-selection failures.
    if (typeof name === 'string' && /^Mongo(Network|ServerSelection|NotConnected|Topology)/.test(name)) return true;
    if (typeof message === 'string' && lostConnection.test(message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Each dependency an event function may use, by name, pinged at once. */
export async function dependencyChecks(deps: Pick<Deps, 'db' | 'cache' | 'bus' | 'telemetry'>): Promise<Record<string, 'ok' | string>> {
  const named = { relational: deps.db.ping(), cache: deps.cache.ping(), bus: deps.bus.ping(), telemetry: deps.telemetry.ping() };
  const settled = await Promise.allSettled(Object.values(named));
  return Object.fromEntries(Object.keys(named).map((name, i) => {
    const result = settled[i]!;
    return [name, result.status === 'fulfilled' ? 'ok' : String(result.reason)];
  }));
}

/**
 * Resolves once every dependency answers, probing with a backoff from `firstMs` doubling to `maxMs`; rejects
 * only when `stopped()` says to give up (the consumer is being cancelled).
 */
export async function untilReady(
  deps: Pick<Deps, 'db' | 'cache' | 'bus' | 'telemetry'>,
  options: { firstMs?: number; maxMs?: number; stopped?: () => boolean } = {},
): Promise<void> {
  const { firstMs = 200, maxMs = 5_000, stopped = () => false } = options;
  for (let wait = firstMs; ; wait = Math.min(wait * 2, maxMs)) {
    await new Promise((resolve) => setTimeout(resolve, wait));
    if (stopped()) throw new Error('stopped while waiting for the dependencies');
    const checks = await dependencyChecks(deps);
    if (Object.values(checks).every((check) => check === 'ok')) return;
  }
}

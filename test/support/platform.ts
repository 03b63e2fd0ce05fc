/**
 * A whole platform for a test: the registry's functions behind the local gateway on a free port, on the
 * real PostgreSQL and Redis (or on the embedded adapters when asked), with in-memory signing keys.
 */
import type { AddressInfo } from 'node:net';
import { configWith } from '../../shared/config.ts';
import type { Deps } from '../../shared/platform.ts';
import { createFunctionPlatform } from '../../functions/platform.ts';
import { createGateway } from '../../shared/http/gateway.ts';
import { startInternalServer } from '../../shared/http/internal-server.ts';
import { functions, httpFunctions } from '../../functions/registry.ts';
import { services } from './services.ts';
import { startLocalPlatform, type LocalPlatform } from '../../functions/local-platform.ts';
import { buildDashboard } from '../../dashboard/build.ts';

let dashboard: Promise<{ outDir: string }> | undefined;

export interface TestPlatform {
  url: string;
  /** The internal port (METRICS_PORT): /metrics and the detailed /readyz. */
  metricsUrl: string;
  deps: Deps;
  local?: LocalPlatform;
  close(): Promise<void>;
}

/**
 * `local` (default true) also runs what `npm start` runs beside the gateway: the event triggers, the relay
 * and the device edge (MQTT off unless `mqtt` is set, since Mosquitto holds port 1883 here).
 */
export async function startPlatform(options: { embedded?: boolean; env?: Record<string, string>; local?: boolean; mqtt?: boolean } = {}): Promise<TestPlatform> {
  // Each platform gets its own Redis key prefix, so counters and sessions never leak between runs.
  const env = options.embedded
    ? {}
    : {
        DATABASE_URL: services.databaseUrl,
        REDIS_URL: services.redisUrl,
        AMQP_URL: services.amqpUrl,
        REDIS_KEY_PREFIX: `test-${Math.random().toString(36).slice(2, 10)}:`,
      };
  const deps = await createFunctionPlatform(configWith({ ...env, ...options.env }));
  dashboard ??= buildDashboard();
  const server = createGateway({ functions: httpFunctions, deps, version: 'test', appDir: (await dashboard).outDir });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const local = options.local === false ? undefined : await startLocalPlatform(deps, server, { mqtt: options.mqtt ?? false, trigger: { backoffMs: 50 } });
  // Any free port: several platforms run at once in one test process, and beside other processes.
  const internal = await startInternalServer(deps, { port: 0, host: '127.0.0.1' });
  return {
    url: `http://127.0.0.1:${port}`,
    metricsUrl: internal.url,
    deps,
    local,
    async close() {
      await internal.close();
      await local?.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await deps.close();
    },
  };
}

export function randomEmail(prefix = 'user'): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 10)}@example.com`;
}

export const goodPassword = 'correct horse battery staple';

/** A small fetch wrapper that returns status, headers and the parsed JSON body (or the text). */
export async function call(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; token?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(base + path, { method, headers, body, signal: AbortSignal.timeout(15_000) });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: the text itself is the body
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

/** Registers a fresh user and logs in; returns the email and the token pair. */
export async function signedInUser(base: string, prefix = 'user') {
  const email = randomEmail(prefix);
  const registered = await call(base, 'POST', '/auth/register', { body: { email, password: goodPassword } });
  if (registered.status !== 201) throw new Error(`register answered ${registered.status}: ${JSON.stringify(registered.body)}`);
  const login = await call(base, 'POST', '/auth/login', { body: { email, password: goodPassword } });
  if (login.status !== 200) throw new Error(`login answered ${login.status}: ${JSON.stringify(login.body)}`);
  return { email, userId: registered.body.id as string, accessToken: login.body.accessToken as string, refreshToken: login.body.refreshToken as string };
}

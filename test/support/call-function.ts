/**
 * One function at a time, in-process: an HTTP function of the registry runs through the harness both hosts use
 * (so its validation, authentication and problems are the real ones) and an event function through the event
 * runner, on a platform of embedded adapters (PGlite, the memory cache and bus). No server, no port,
 * no real service: after one platform boot per test file a call costs what its handler costs.
 *
 *   const platform = await embeddedPlatform();
 *   const alice = await signIn(platform);
 *   const res = await callFunction(addDevice, { body: { name: 'Boiler', type: 'sensor' }, token: alice.accessToken }, platform);
 *   assert.is(res.status, 201);
 *   await deliverEvent(ingestTelemetry, { deviceId, ownerId, via: 'http', receivedAt: Date.now(), points }, platform);
 *
 * It lives in test/support rather than shared/http: the hosts already turn a node:http request into an
 * `IncomingCall` themselves, and what this adds (a JSON body from a value, a parsed reply, a platform on
 * embedded adapters, a signed-in user) only tests want. What it does not cover is what a host does before the
 * harness, routing and reading the socket: test/gateway.test.ts and test/framework-host.test.ts do.
 */
import { createHash, randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configWith } from '../../shared/config.ts';
import { createPglite } from '../../shared/adapters/relational/pglite.ts';
import { migrate, migrationsDir } from '../../shared/db/migrate.ts';
import type { Relational } from '../../shared/ports/relational.ts';
import type { Deps } from '../../shared/platform.ts';
import type { EventFunction, HttpFunction, HttpMethod } from '../../shared/function.ts';
import { cloudEvent, type CloudEvent } from '../../shared/events.ts';
import { Problem } from '../../shared/problem.ts';
import { runEventFunction } from '../../shared/bus/event-runner.ts';
import { problemReply, requestIdOf, runHttpFunction } from '../../shared/http/harness.ts';
import { createFunctionPlatform } from '../../functions/platform.ts';
import { eventFunctions, httpFunctions } from '../../functions/registry.ts';
import { goodPassword, randomEmail } from './platform.ts';

export interface EmbeddedPlatformOptions {
  /** Configuration variables over the test defaults (NODE_ENV=test, LOG_LEVEL=silent). */
  env?: Record<string, string>;
  /**
   * Run the outbox relay (default false): without it the events a handler commits stay in the outbox table for
   * the test to read, and no loop polls PGlite between calls. Consumers run only through deliverEvent anyway.
   */
  relay?: boolean;
}

/**
 * A platform on the embedded adapters, as `npm start` without any service would build it: PGlite, the memory
 * cache and the memory bus, each platform with a database of its own.
 */
export async function embeddedPlatform(options: EmbeddedPlatformOptions = {}): Promise<Deps> {
  const db = await freshDatabase();
  return createFunctionPlatform(configWith(options.env), { db, relay: options.relay ?? false });
}

/**
 * A new PGlite database with the migrations applied, copied from a template data directory. A PGlite made
 * from nothing runs initdb, about 3 s (6 s for the first of a process); opening a copy takes about 0.5 s. The
 * template is kept in the temp directory under the PGlite version and the migrations' digest, so it is built
 * once per machine and rebuilt when either changes (and migrate() still runs on each copy, as on any start).
 */
async function freshDatabase(): Promise<Relational> {
  const template = await databaseTemplate();
  const dir = mkdtempSync(join(tmpdir(), 'iotfn-pglite-run-'));
  cpSync(template, dir, { recursive: true });
  const db = await createPglite(dir);
  return {
    ...db,
    async close() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function databaseTemplate(): Promise<string> {
  const digest = createHash('sha256');
  // The package's exports hide its package.json; its entry point's path leads there.
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const packageJson = join(entry.slice(0, entry.lastIndexOf('@electric-sql/pglite') + '@electric-sql/pglite'.length), 'package.json');
  digest.update(readFileSync(packageJson));
  for (const file of readdirSync(migrationsDir).sort()) digest.update(file).update(readFileSync(join(migrationsDir, file)));
  const template = join(tmpdir(), `iotfn-pglite-template-${digest.digest('hex').slice(0, 16)}`);
  if (existsSync(template)) return template;
  // Built aside and renamed into place, so a process running beside this one never copies half a template.
  const building = `${template}.${randomUUID()}`;
  const db = await createPglite(building);
  try {
    await migrate(db);
  } finally {
    await db.close();
  }
  try {
    renameSync(building, template);
  } catch (error) {
    // Another process put its template in place first: use that one.
    rmSync(building, { recursive: true, force: true });
    if (!existsSync(template)) throw error;
  }
  return template;
}

export interface CallInput {
  /** Default: the function's own; another one answers 405 as both hosts do. */
  method?: string;
  /** The route's params, as the router would hand them over: `{ id }` for `/devices/{id}`. */
  params?: Record<string, string>;
  /** Default: the function's route with the params filled in. */
  path?: string;
  query?: URLSearchParams | Record<string, string | number | boolean | ReadonlyArray<string | number> | undefined>;
  headers?: Record<string, string>;
  /** A user access token, sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** A value sent as a JSON body (content-type application/json unless `headers` say otherwise). */
  body?: unknown;
  /** A body sent byte for byte, for bodies that are not JSON. */
  raw?: string | Buffer;
  /** The client address the function sees (default 127.0.0.1). */
  ip?: string;
}

export interface CallResult {
  status: number;
  /** Lower-case names, as a host would send them. */
  headers: Record<string, string>;
  /** The JSON body parsed (problem+json included), the text of any other body, or undefined without one. */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON, as support/platform.ts's call()
}

/** Runs one HTTP function, given itself or by its registry name, for one request. */
export async function callFunction(fn: HttpFunction | string, input: CallInput, platform: Deps): Promise<CallResult> {
  const target = typeof fn === 'string' ? named(httpFunctions, fn) : fn;
  const params = input.params ?? {};
  const path = input.path ?? target.path.replace(/\{(\w+)\}/g, (whole, name: string) => (params[name] === undefined ? whole : encodeURIComponent(params[name])));
  const method = (input.method ?? target.method).toUpperCase();

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.headers ?? {})) headers[name.toLowerCase()] = value;
  if (input.token !== undefined) headers.authorization ??= `Bearer ${input.token}`;
  let body: Buffer | undefined;
  if (input.raw !== undefined) body = Buffer.from(input.raw);
  else if (input.body !== undefined) {
    body = Buffer.from(JSON.stringify(input.body));
    headers['content-type'] ??= 'application/json';
  }

  if (method !== target.method) {
    const problem = new Problem('method-not-allowed', `${target.name} answers ${target.method} only`, { headers: { allow: target.method } });
    return parsed(problemReply(problem, requestIdOf(headers), path));
  }
  const reply = await runHttpFunction(
    target,
    {
      method,
      path,
      query: queryOf(input.query),
      params,
      headers,
      // The hosts read no body for a function that takes none (shared/http/read-body.ts with limit 0).
      body: target.body ? body : undefined,
      ip: input.ip ?? '127.0.0.1',
    },
    platform,
  );
  return parsed(reply);
}

/**
 * Delivers one event to an event function, given itself or by its registry name, as its trigger would: a
 * CloudEvent of the function's type, through the JSON a bus carries. Resolves when the handler has, and rejects
 * as the runner does: with PoisonEvent for an event that can never be processed. Answers the event delivered.
 */
export async function deliverEvent<D>(
  fn: EventFunction | string,
  data: D,
  platform: Deps,
  fields: { id?: string; subject?: string; source?: string } = {},
): Promise<CloudEvent<D>> {
  const target = typeof fn === 'string' ? named(eventFunctions, fn) : fn;
  const event = cloudEvent({ type: target.trigger.eventType, source: fields.source ?? '/tests', data, ...(fields.id ? { id: fields.id } : {}), ...(fields.subject ? { subject: fields.subject } : {}) });
  await runEventFunction(target, JSON.parse(JSON.stringify(event)), platform);
  return event;
}

export interface SignedInUser {
  email: string;
  password: string;
  userId: string;
  accessToken: string;
  refreshToken: string;
}

let addresses = 0;

/**
 * Registers a fresh user and logs in, in-process. Each user comes from an address of its own, so a test's setup
 * never spends the per-address register and login limits that the test itself may be probing.
 */
export async function signIn(platform: Deps, prefix = 'user'): Promise<SignedInUser> {
  const email = randomEmail(prefix);
  addresses += 1;
  const ip = `10.${(addresses >> 16) & 255}.${(addresses >> 8) & 255}.${addresses & 255}`;
  const registered = await callFunction('register', { body: { email, password: goodPassword }, ip }, platform);
  if (registered.status !== 201) throw new Error(`register answered ${registered.status}: ${JSON.stringify(registered.body)}`);
  const login = await callFunction('login', { body: { email, password: goodPassword }, ip }, platform);
  if (login.status !== 200) throw new Error(`login answered ${login.status}: ${JSON.stringify(login.body)}`);
  return { email, password: goodPassword, userId: registered.body.id, accessToken: login.body.accessToken, refreshToken: login.body.refreshToken };
}

function named<F extends { name: string }>(list: readonly F[], name: string): F {
  const found = list.find((fn) => fn.name === name);
  if (!found) throw new Error(`the registry has no function ${name} of this kind`);
  return found;
}

function queryOf(query: CallInput['query']): URLSearchParams {
  if (query instanceof URLSearchParams) return query;
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) search.append(key, String(item));
    else search.append(key, String(value));
  }
  return search;
}

function parsed(reply: { status: number; headers: Record<string, string>; body?: string | Buffer }): CallResult {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(reply.headers)) headers[name.toLowerCase()] = value;
  const text = reply.body === undefined ? undefined : reply.body.toString();
  const json = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(headers['content-type'] ?? '');
  // A JSON type with a body that does not parse is a bug worth a loud failure, not a string to compare.
  return { status: reply.status, headers, body: text && json ? JSON.parse(text) : text };
}

/**
 * How a function is declared: once, with its name, domain, route, zod schemas and handler.
 *
 *   export default defineHttpFunction({
 *     name: 'login', domain: 'signing', method: 'POST', path: '/auth/login', auth: 'none',
 *     summary: 'Exchange email and password for a token pair',
 *     body: LoginBody, responses: { 200: TokenPair },
 *     async handler({ body, deps }) { return { status: 200, body: await ... } },
 *   });
 *
 * The registry (functions/registry.ts) lists every declared function; the gateway, the
 * functions-framework host, the OpenAPI document and the deploy artefacts are all derived from it.
 * Handlers know neither node:http, express nor functions-framework: the harness adapts them.
 */
import type { z } from 'zod';
import type { Logger } from 'pino';
import type { Deps } from './platform.ts';
import type { ProblemKind } from './problem.ts';
import type { CloudEvent } from './events.ts';
import type { DeployPolicyDeclaration } from './deploy-policy.ts';

export type Domain = 'signing' | 'devices' | 'monitoring';
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
/**
 * `user`: the harness requires a user access token (Bearer) and passes the caller to the handler.
 * `device`: the handler authenticates a device token itself (`Authorization: Device <token>`); declared so
 * the OpenAPI document shows the scheme. `none`: public.
 */
export type AuthMode = 'none' | 'user' | 'device';

/** The user a verified access token speaks for. */
export interface Caller {
  userId: string;
  role: 'user' | 'admin';
  sessionId: string;
  /** When the access token expires, epoch ms (a long-lived connection must end by then). */
  expiresAt: number;
}

export interface RequestInfo {
  id: string;
  method: string;
  path: string;
  ip: string;
  headers: Readonly<Record<string, string | undefined>>;
}

export interface Reply<Body = unknown> {
  status: number;
  body?: Body;
  headers?: Record<string, string>;
}

export interface HandlerInput<P, Q, B, A extends AuthMode> {
  params: P;
  query: Q;
  body: B;
  user: A extends 'user' ? Caller : undefined;
  request: RequestInfo;
  deps: Deps;
  log: Logger;
}

type Schema = z.ZodType;
type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

/** Success responses by status; `null` for a response without a body (204). */
export type Responses = Record<number, Schema | null>;

export interface HttpFunctionDefinition<
  P extends Schema | undefined,
  Q extends Schema | undefined,
  B extends Schema | undefined,
  A extends AuthMode,
  M extends HttpMethod = HttpMethod,
  Path extends string = string,
  R extends Responses = Responses,
> {
  name: string;
  domain: Domain;
  method: M;
  /** The public route, OpenAPI style: `/devices/{id}`. */
  path: Path;
  summary: string;
  description?: string;
  auth: A;
  params?: P;
  query?: Q;
  body?: B;
  /** Success responses by status; `null` for a response without a body (204). */
  responses: R;
  /** Problem kinds this function answers with, beyond the ones every function can (validation, 401, 5xx). */
  problems?: ProblemKind[];
  /** How a cluster scales it, where it differs from an HTTP function's default (shared/deploy-policy.ts). */
  deploy?: DeployPolicyDeclaration;
  handler(input: HandlerInput<Out<P>, Out<Q>, Out<B>, A>): Promise<Reply>;
}

export interface HttpFunction {
  kind: 'http';
  name: string;
  domain: Domain;
  method: HttpMethod;
  path: string;
  summary: string;
  description?: string;
  auth: AuthMode;
  params?: Schema;
  query?: Schema;
  body?: Schema;
  responses: Record<number, Schema | null>;
  problems: ProblemKind[];
  deploy?: DeployPolicyDeclaration;
  // The registry holds functions of many input types; the harness parses input with the schemas above
  // before calling, so the handler's precise types hold at run time.
  handler(input: HandlerInput<any, any, any, any>): Promise<Reply>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Where an event function's events come from: a durable queue bound to an exchange. */
export interface EventTrigger {
  exchange: string;
  /** Routing-key pattern of the binding. */
  pattern: string;
  /** The durable queue the local trigger consumes (in a cluster: the Knative Trigger's subscriber). */
  queue: string;
  /** CloudEvent type the function takes (Knative Trigger filter). */
  eventType: string;
}

export interface EventInput<D> {
  event: CloudEvent<D>;
  data: D;
  deps: Deps;
  log: Logger;
}

export interface EventFunctionDefinition<S extends Schema> {
  name: string;
  domain: Domain;
  summary: string;
  trigger: EventTrigger;
  /** Schema of the event's `data`; an event that fails it can never be processed (dead-lettered at once). */
  data: S;
  /** How a cluster scales it, where it differs from an event function's default (shared/deploy-policy.ts). */
  deploy?: DeployPolicyDeclaration;
  handler(input: EventInput<z.output<S>>): Promise<void>;
  /**
   * Optional: several events at once, for throughput (the local trigger batches what arrives together).
   * All or nothing: a throw makes the trigger fall back to `handler` one event at a time.
   */
  handleBatch?(inputs: Array<EventInput<z.output<S>>>): Promise<void>;
}

export interface EventFunction {
  kind: 'event';
  name: string;
  domain: Domain;
  summary: string;
  trigger: EventTrigger;
  data: Schema;
  deploy?: DeployPolicyDeclaration;
  // As for HttpFunction: the registry holds many data types; the runner parses `data` before calling.
  handler(input: EventInput<any>): Promise<void>; // eslint-disable-line @typescript-eslint/no-explicit-any
  handleBatch?(inputs: Array<EventInput<any>>): Promise<void>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * When a scheduled function runs. `cron` (five fields, UTC) is what a cluster's PingSource or OpenFaaS
 * cron-connector fires on; a cron tick can fire no more than once a minute, so a function that must run more
 * often also declares `everySeconds`: one invocation then makes passes that far apart until the next tick is due,
 * and `npm start` / `iotfn scheduler` run it on `everySeconds` alone.
 */
export interface Schedule {
  cron: string;
  everySeconds?: number;
}

export interface ScheduleInput {
  deps: Deps;
  log: Logger;
  /** When this pass runs (epoch ms): the scheduler's clock, so a test can pass its own. */
  now: number;
}

export interface ScheduleFunctionDefinition {
  name: string;
  domain: Domain;
  summary: string;
  schedule: Schedule;
  /** How a cluster scales it, where it differs from a scheduled function's default (shared/deploy-policy.ts). */
  deploy?: DeployPolicyDeclaration;
  /**
   * One pass of the work. It must be safe to run twice at once: the scheduler also takes a lock per function
   * (an advisory lock on the relational store), so a second concurrent run finds it held and skips.
   * Returns what the pass did, for the log and the response (e.g. `{ expired: 12 }`).
   */
  handler(input: ScheduleInput): Promise<Record<string, number> | void>;
}

export interface ScheduleFunction extends ScheduleFunctionDefinition {
  kind: 'schedule';
}

export function defineScheduleFunction(definition: ScheduleFunctionDefinition): ScheduleFunction {
  return { kind: 'schedule', ...definition };
}

export type PlatformFunction = HttpFunction | EventFunction | ScheduleFunction;

export function defineEventFunction<S extends Schema>(definition: EventFunctionDefinition<S>): EventFunction {
  return { kind: 'event', ...definition } as EventFunction;
}

/**
 * An HTTP function as declared, keeping its route and schemas in its type: what the typed API client
 * (functions/api-routes.ts) reads, so the dashboard and the simulator call the routes the registry serves.
 */
export type DeclaredHttpFunction<
  M extends HttpMethod,
  Path extends string,
  P extends Schema | undefined,
  Q extends Schema | undefined,
  B extends Schema | undefined,
  R extends Responses,
> = Omit<HttpFunction, 'method' | 'path' | 'responses'> & { method: M; path: Path; responses: R; readonly schemas?: { params: P; query: Q; body: B } };

export function defineHttpFunction<
  P extends Schema | undefined = undefined,
  Q extends Schema | undefined = undefined,
  B extends Schema | undefined = undefined,
  A extends AuthMode = 'none',
  const M extends HttpMethod = HttpMethod,
  const Path extends string = string,
  R extends Responses = Responses,
>(definition: HttpFunctionDefinition<P, Q, B, A, M, Path, R>): DeclaredHttpFunction<M, Path, P, Q, B, R> {
  return { kind: 'http', problems: [], ...definition } as HttpFunction as DeclaredHttpFunction<M, Path, P, Q, B, R>;
}

/**
 * The harness: runs one declared function for one request, whatever host received it.
 *
 * A host (the gateway on node:http, or a functions-framework process) turns its request into an
 * `IncomingCall` and writes back the `OutgoingReply`. In between, the harness checks the content type and
 * size, parses JSON, authenticates, parses params, query and body with the function's zod schemas, calls the
 * handler, checks the reply against the declared response schema (which also strips fields it does not
 * declare), maps every error to problem+json, logs one JSON line and records the metrics.
 */
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { HttpFunction, RequestInfo } from '../function.ts';
import type { Deps } from '../platform.ts';
import { asProblem, Problem, problemContentType, type FieldError } from '../problem.ts';
import { httpDuration, httpRequests } from '../metrics.ts';
import { requireUser } from '../auth/require-user.ts';
import { apiSecurityHeaders } from './security-headers.ts';

export interface IncomingCall {
  method: string;
  path: string;
  query: URLSearchParams;
  params: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  /** The raw body; undefined or empty when none was sent. */
  body: Buffer | undefined;
  /** The client address as the host saw it (socket peer, or X-Forwarded-For when trusted). */
  ip: string;
}

export interface OutgoingReply {
  status: number;
  headers: Record<string, string>;
  body?: string | Buffer;
}

const requestIdPattern = /^[\w.:-]{1,128}$/;
const jsonType = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

export function requestIdOf(headers: IncomingCall['headers']): string {
  const given = firstHeader(headers['x-request-id']);
  return given && requestIdPattern.test(given) ? given : randomUUID();
}

export function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function problemReply(problem: Problem, requestId: string, instance?: string): OutgoingReply {
  return {
    status: problem.status,
    headers: { ...apiSecurityHeaders, 'content-type': problemContentType, 'x-request-id': requestId, ...problem.headers },
    body: JSON.stringify(problem.toDocument(instance)),
  };
}

export async function runHttpFunction(fn: HttpFunction, call: IncomingCall, deps: Deps): Promise<OutgoingReply> {
  const started = process.hrtime.bigint();
  const requestId = requestIdOf(call.headers);
  const log = deps.log.child({ reqId: requestId, fn: fn.name });
  let reply: OutgoingReply;
  try {
    reply = await invoke(fn, call, deps, requestId, log);
  } catch (error) {
    const problem = asProblem(error);
    if (problem.status >= 500) log.error({ err: error }, 'function failed');
    reply = problemReply(problem, requestId, call.path);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const labels = { function: fn.name, method: call.method, status: String(reply.status) };
  httpRequests.inc(labels);
  httpDuration.observe(labels, seconds);
  // One line per request is what operators read in production; on a laptop (a demo fleet sends five a second)
  // it scrolls the banner away, so development logs it at debug (LOG_LEVEL=debug shows it).
  const level = deps.config.NODE_ENV === 'development' ? 'debug' : 'info';
  log[level]({ method: call.method, path: call.path, status: reply.status, ms: Math.round(seconds * 1e4) / 10 }, 'request');
  return reply;
}

async function invoke(fn: HttpFunction, call: IncomingCall, deps: Deps, requestId: string, log: Deps['log']): Promise<OutgoingReply> {
  const raw = readJsonBody(fn, call, deps.config.BODY_LIMIT_BYTES);
  const user = fn.auth === 'user' ? await requireUser(firstHeader(call.headers.authorization), deps) : undefined;

  const errors: FieldError[] = [];
  const params = parsePart('params', fn.params, call.params, errors);
  const query = parsePart('query', fn.query, queryObject(call.query), errors);
  const body = parsePart('body', fn.body, raw, errors);
  if (errors.length > 0) {
    throw new Problem('validation', errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors });
  }

  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(call.headers)) headers[name] = firstHeader(value);
  const request: RequestInfo = { id: requestId, method: call.method, path: call.path, ip: call.ip, headers };
  const result = await fn.handler({ params, query, body, user, request, deps, log });

  const schema = fn.responses[result.status];
  if (schema === undefined) throw new Error(`${fn.name} answered ${result.status}, which it does not declare`);
  const out: OutgoingReply = { status: result.status, headers: { ...apiSecurityHeaders, 'x-request-id': requestId, ...result.headers } };
  if (schema !== null) {
    const checked = schema.safeParse(result.body);
    if (!checked.success) throw new Error(`${fn.name} answered a body that breaks its schema: ${checked.error.message}`);
    out.headers['content-type'] = 'application/json; charset=utf-8';
    out.body = JSON.stringify(checked.data);
  }
  return out;
}

/** The parsed JSON body, or undefined when the function takes none or none was sent. */
function readJsonBody(fn: HttpFunction, call: IncomingCall, limit: number): unknown {
  if (!fn.body || !call.body || call.body.length === 0) return undefined;
  if (call.body.length > limit) throw new Problem('payload-too-large', `The body exceeds ${limit} bytes`);
  const type = firstHeader(call.headers['content-type']) ?? '';
  if (!jsonType.test(type)) {
    throw new Problem('unsupported-media-type', `Send the body as application/json${type ? `, not ${type}` : ''}`);
  }
  try {
    return JSON.parse(call.body.toString('utf8'));
  } catch (error) {
    throw new Problem('invalid-json', `The body is not valid JSON: ${(error as Error).message}`);
  }
}

function parsePart(part: string, schema: z.ZodType | undefined, value: unknown, errors: FieldError[]): unknown {
  if (!schema) return undefined;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    errors.push({ path: [part, ...issue.path.map(String)].join('.'), message: issue.message });
  }
  return undefined;
}

/** A repeated query key becomes an array; a single one stays a string. */
function queryObject(search: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of search) {
    const prior = out[key];
    out[key] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
  }
  return out;
}

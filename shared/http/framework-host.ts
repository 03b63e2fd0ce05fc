/**
 * The deploy unit: every function registered with @google-cloud/functions-framework under its name, so
 * `functions-framework --target=login` (or FUNCTION_TARGET=login) serves that one function alone. That
 * process is what Knative and OpenFaaS scale. It also answers /healthz and /readyz (ready or not) for
 * probes, and routes by the function's own method and path so params like `{id}` are read from the public URL
 * the ingress forwards. /metrics and the detailed /readyz are on the internal port, which functions/index.ts
 * starts (internal-server.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import * as ff from '@google-cloud/functions-framework';
import type { EventFunction, HttpFunction, PlatformFunction, ScheduleFunction } from '../function.ts';
import { eventMessage, type CloudEvent } from '../events.ts';
import { runEventFunction, PoisonEvent } from '../bus/event-runner.ts';
import { isOutage } from '../bus/outage.ts';
import { exchanges } from '../bus/topology.ts';
import { eventsDeadLettered } from '../metrics.ts';
import type { Deps } from '../platform.ts';
import { Problem } from '../problem.ts';
import { problemReply, requestIdOf, runHttpFunction } from './harness.ts';
import { readBody } from './read-body.ts';
import { probeReply } from './probes.ts';
import { scheduleReply } from '../schedule/over-http.ts';
import { clientAddress } from './client-address.ts';
import { guardRequestLimits } from './request-limits.ts';
import { frameworkModule, loadFrameworkServer } from './framework-module.ts';
// The one writer of both hosts (write-reply.ts), under the name this file has always called it by.
import { writeReply as send } from './write-reply.ts';

interface FrameworkRequest extends IncomingMessage {
  rawBody?: Buffer;
  body?: unknown;
  bodyProblem?: Problem;
  _body?: boolean;
}

/**
 * Reads a request's body once, for every host of a function: the raw bytes kept for the harness (which parses
 * and validates them, so a bad body gets problem+json), and a body over the limit kept as the problem the
 * function answers with. `parseJson` also parses a JSON body into `request.body`, for functions-framework's
 * CloudEvents in binary mode; an HTTP function's own server leaves it off, since the harness parses the bytes
 * itself and a second parse would be work on every call for nobody.
 */
export async function readIntoRequest(request: FrameworkRequest, limitBytes: number, { parseJson }: { parseJson: boolean }): Promise<void> {
  if (request._body) return;
  try {
    const buffer = await readBody(request, limitBytes);
    request.rawBody = buffer;
    request._body = true;
    if (parseJson && buffer && /json/i.test(request.headers['content-type'] ?? '')) {
      try {
        request.body = JSON.parse(buffer.toString('utf8'));
      } catch {
        // A parse failure is left to the harness, which answers it as the function's own validation error.
        request.body = undefined;
      }
    }
  } catch (error) {
    request.bodyProblem = error instanceof Problem ? error : new Problem('payload-too-large', 'The body could not be read');
  }
}

/**
 * functions-framework's express server, for what needs it: event functions (its CloudEvents parsing) and
 * getTestServer. It parses bodies with body-parser before any user code runs and answers bad JSON or an
 * oversize body with an HTML error page the function never sees; to keep one error shape (problem+json) and
 * one body limit, its default parsers are swapped for readIntoRequest. The CloudEvents parser is kept as it is.
 * getServer() looks the parsers up when it builds the app, after this has run. It also wraps getServer: Node
 * answers a head over its limits with a bare 431 or 400 before express sees a request, and guardRequestLimits
 * puts the gateway's problem+json answers there instead.
 */
export async function takeOverFrameworkServer(limitBytes: number): Promise<void> {
  const { bodyParser, server } = await loadFrameworkServer();
  const originalJson = bodyParser.json!;
  const passThrough = () => (_req: unknown, _res: unknown, next: () => void) => next();
  const reader = () => (req: FrameworkRequest, res: ServerResponse, next: () => void) => {
    if (req.method === 'GET' && answerProbes) {
      answerProbes(req, res).then((answered) => (answered ? undefined : next()), () => next());
      return;
    }
    readIntoRequest(req, limitBytes, { parseJson: true }).then(next, next);
  };
  bodyParser.json = (options) => (options?.type === 'application/cloudevents+json' ? originalJson(options) : reader());
  bodyParser.text = passThrough;
  bodyParser.urlencoded = passThrough;
  bodyParser.raw = passThrough;
  if (server.guarded) return;
  const getServer = server.getServer;
  server.getServer = (...args) => guardRequestLimits(getServer(...args));
  server.guarded = true;
}

/** What ff.http or ff.cloudEvent registered under a name, from functions-framework's own registry. */
export function registeredFunction(name: string): { userFunction: unknown; signatureType: string } {
  const { getRegisteredFunction } = frameworkModule<{
    getRegisteredFunction: (name: string) => { userFunction: unknown; signatureType: string } | undefined;
  }>('./function_registry.js');
  const registered = getRegisteredFunction(name);
  if (!registered) throw new Error(`${name} is not registered with functions-framework`);
  return registered;
}

/**
 * The server of an HTTP (or scheduled) function's process: node:http straight to the handler registered with
 * functions-framework under `name`, after readIntoRequest. functions-framework's own server puts express and
 * its middleware (body-parser, a timeout, execution context, its wrapper) in front of every call; measured on
 * its hello world, that answers at a tenth of a bare node:http server's rate, and its modules are most of a
 * function's start. Everything those layers did for us is done here or in the handler: routing and method
 * checks (frameworkHandler), probes, the body limit, problem+json for every refusal (guardRequestLimits), and
 * the one writer. The handler is still the one ff.http registered, so getTestServer tests the same code.
 */
export function httpFunctionServer(name: string, limitBytes: number): Server {
  const registered = registeredFunction(name);
  if (registered.signatureType !== 'http') throw new Error(`${name} is registered with functions-framework as a ${registered.signatureType} function, not an HTTP one`);
  const handler = registered.userFunction as (request: FrameworkRequest, response: ServerResponse) => Promise<void>;
  const server = createServer((request: FrameworkRequest, response) => {
    readIntoRequest(request, limitBytes, { parseJson: false })
      .then(() => handler(request, response))
      .catch((error: unknown) => {
        // The handlers answer every failure of their own; this is the host failing around them.
        const problem = new Problem('internal', 'The function host failed', { cause: error });
        send(response, problemReply(problem, requestIdOf(request.headers), request.url ?? '/'));
      });
  });
  return guardRequestLimits(server);
}

/** Compiles `/devices/{id}` into a matcher that returns the params of a matching path. */
export function pathMatcher(path: string): (actual: string) => Record<string, string> | undefined {
  const names: string[] = [];
  const source = path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_m, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  const pattern = new RegExp(`^${source}/?$`);
  return (actual) => {
    const match = pattern.exec(actual);
    if (!match) return undefined;
    return Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1] ?? '')]));
  };
}

/**
 * For an event function functions-framework routes only POSTs to the function, so probes and scrapes never
 * reach it; the body reader (which runs on every request, see takeOverFrameworkServer) answers them instead.
 */
let answerProbes: ((request: FrameworkRequest, response: ServerResponse) => Promise<boolean>) | undefined;

export function frameworkHandler(fn: HttpFunction, getDeps: () => Promise<Deps>) {
  const match = pathMatcher(fn.path);
  return async (request: FrameworkRequest, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://function');
    const deps = await getDeps();
    try {
      const probe = await probeReply(request.method, url.pathname, deps);
      if (probe) return send(response, probe, deps.log);
      const params = match(url.pathname);
      if (!params) throw new Problem('not-found', `${fn.name} serves ${fn.path}, not ${url.pathname}`);
      if (request.method !== fn.method) {
        throw new Problem('method-not-allowed', `${fn.name} answers ${fn.method} only`, { headers: { allow: fn.method } });
      }
      if (request.bodyProblem) throw request.bodyProblem;
      const reply = await runHttpFunction(
        fn,
        {
          method: fn.method,
          path: url.pathname,
          query: url.searchParams,
          params,
          headers: request.headers,
          body: request.rawBody,
          ip: clientAddress(request, deps.config.TRUST_PROXY),
        },
        deps,
      );
      send(response, reply, deps.log);
    } catch (error) {
      const problem = error instanceof Problem ? error : new Problem('internal', 'The function host failed', { cause: error });
      if (problem.status >= 500) deps.log.error({ err: error, fn: fn.name }, 'host failed');
      send(response, problemReply(problem, requestIdOf(request.headers), url.pathname), deps.log);
    }
  };
}

/**
 * An event function as a functions-framework cloudEvent function. functions-framework answers 500 to any
 * throw, and Knative retries a 500 (16 times over about 18 hours, as rendered), so only an outage throws here:
 * a dependency that is down (shared/bus/outage.ts) is worth waiting for. An event that can never be processed,
 * or that failed for any other reason, is dead-lettered here at once with the reason (`x-iotfn-reason`), and
 * answered as done; `iotfn dead-letters replay` sends it back to this function's queue.
 */
export function frameworkEventHandler(fn: EventFunction, getDeps: () => Promise<Deps>) {
  return async (event: ff.CloudEvent<unknown>): Promise<void> => {
    const deps = await getDeps();
    try {
      await runEventFunction(fn, event, deps);
    } catch (error) {
      if (!(error instanceof PoisonEvent) && isOutage(error)) throw error;
      const reason = error instanceof PoisonEvent ? 'poison' : 'failed';
      eventsDeadLettered.inc({ function: fn.name, reason });
      deps.log.error({ err: error, fn: fn.name, reason }, 'event dead-lettered');
      const message = eventMessage(event as unknown as CloudEvent);
      const why = String((error as Error)?.message ?? error).slice(0, 500);
      await deps.bus.publish(exchanges.deadLetter, fn.trigger.queue, { ...message, headers: { ...message.headers, 'x-iotfn-reason': why } });
    }
  };
}

/** A scheduled function as a functions-framework HTTP function: shared/schedule/over-http.ts answers. */
export function frameworkScheduleHandler(fn: ScheduleFunction, getDeps: () => Promise<Deps>) {
  return async (request: FrameworkRequest, response: ServerResponse): Promise<void> => {
    const path = new URL(request.url ?? '/', 'http://function').pathname;
    send(response, await scheduleReply(fn, { method: request.method, path, headers: request.headers, bodyProblem: request.bodyProblem }, getDeps));
  };
}

export function registerWithFunctionsFramework(functions: readonly PlatformFunction[], getDeps: () => Promise<Deps>): void {
  answerProbes = async (request, response) => {
    const probe = await probeReply(request.method, new URL(request.url ?? '/', 'http://function').pathname, await getDeps());
    if (probe) send(response, probe);
    return probe !== undefined;
  };
  for (const fn of functions) {
    if (fn.kind === 'http') ff.http(fn.name, frameworkHandler(fn, getDeps) as unknown as ff.HttpFunction);
    else if (fn.kind === 'event') ff.cloudEvent(fn.name, frameworkEventHandler(fn, getDeps));
    // A PingSource's CloudEvent or a cron-connector's call is just a POST that says "now": served as an HTTP function.
    else ff.http(fn.name, frameworkScheduleHandler(fn, getDeps) as unknown as ff.HttpFunction);
  }
}

/**
 * The REST API as the platform's own clients call it (the dashboard, the simulator), typed from the registry: the
 * declarations the gateway routes, the harness validates with and /openapi.json is rendered from. A route the
 * registry does not serve, a missing path parameter, a misspelt query or body field, or a response read as the
 * wrong shape fails `tsc`, in the dashboard's check as in the server's.
 *
 * Types only come from the registry (`import type`): a client's bundle gets `apiRequest` and nothing of the
 * functions. (openapi-typescript would type a client from /openapi.json itself, but it needs TypeScript 5's compiler
 * API, and this project builds with TypeScript 7, which has none: npm refuses the pair.)
 *
 *   const request = apiRequest('GET /devices/{id}/telemetry', { params: { id }, query: { from, to, keys: ['t'] } });
 *   // → { method: 'GET', path: '/devices/3f…/telemetry?from=…&to=…&keys=t' }
 *   const page: ApiResponse<'GET /devices'> = await (await fetch(path)).json();
 */
import type { z } from 'zod';
import type { DeclaredHttpFunction } from './registry.ts';

type RouteOf<F> = F extends { method: infer M extends string; path: infer P extends string } ? `${M} ${P}` : never;

/** Every route the registry serves, as `METHOD /path/{param}`. */
export type ApiRoute = RouteOf<DeclaredHttpFunction>;

/** The function behind a route. */
type FunctionOf<K extends ApiRoute> = DeclaredHttpFunction extends infer F ? (F extends unknown ? (RouteOf<F> extends K ? F : never) : never) : never;

type SchemasOf<F> = F extends { schemas?: infer S } ? NonNullable<S> : never;
type InputOf<S> = S extends z.ZodType ? z.input<S> : undefined;
type OutputOf<S> = S extends z.ZodType ? z.output<S> : undefined;

/** A part of the input: absent when the route takes none, optional when every field of it is. */
type Part<Name extends string, T> = [T] extends [undefined] ? unknown : object extends T ? { [N in Name]?: T } : { [N in Name]: T };

/** What a call of `route` sends: its path parameters, query and body, as the route's schemas take them. */
export type ApiInput<K extends ApiRoute> = Part<'params', InputOf<SchemasOf<FunctionOf<K>>['params']>> &
  Part<'query', InputOf<SchemasOf<FunctionOf<K>>['query']>> &
  Part<'body', InputOf<SchemasOf<FunctionOf<K>>['body']>>;

type ResponsesOf<F> = F extends { responses: infer R } ? R : never;

/** What a call of `route` answers on success (undefined for a 204). */
export type ApiResponse<K extends ApiRoute> = { [S in keyof ResponsesOf<FunctionOf<K>>]: OutputOf<ResponsesOf<FunctionOf<K>>[S]> }[keyof ResponsesOf<FunctionOf<K>>];

/** The arguments after the route: the input, which may be left out when nothing in it is required. */
export type ApiInputArgs<K extends ApiRoute> = object extends ApiInput<K> ? [input?: ApiInput<K>] : [input: ApiInput<K>];

export interface ApiRequest {
  method: string;
  /** The path with its parameters filled in and the query appended, relative to the platform's URL. */
  path: string;
  /** The JSON body, when the route takes one. */
  body?: string;
}

/** The request for a call of `route`: a query value that is a list is sent as repeated parameters. */
export function apiRequest<K extends ApiRoute>(route: K, ...[input]: ApiInputArgs<K>): ApiRequest {
  const parts = (input ?? {}) as { params?: Record<string, unknown>; query?: Record<string, unknown>; body?: unknown };
  const space = route.indexOf(' ');
  const method = route.slice(0, space);
  const path = route.slice(space + 1).replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = parts.params?.[name];
    if (value === undefined || value === '') throw new Error(`${route}: the path parameter ${name} is missing`);
    return encodeURIComponent(String(value));
  });
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(parts.query ?? {})) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) query.append(name, String(one));
  }
  const search = query.size > 0 ? `?${query}` : '';
  return { method, path: path + search, ...(parts.body === undefined ? {} : { body: JSON.stringify(parts.body) }) };
}

/**
 * The typed API client's routes (functions/api-routes.ts): the requests apiRequest builds, and, checked by `tsc`
 * (`npm run typecheck` covers test/ and the dashboard), that a call the registry does not serve does not compile.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { apiRequest, type ApiResponse, type ApiRoute } from '../functions/api-routes.ts';
import { httpFunctions } from '../functions/registry.ts';
import { buildOpenApi } from '../shared/http/openapi.ts';

const routes = suite('typed API routes');

routes('a request fills the path parameters (encoded), appends the query (lists repeated, undefined left out) and carries the JSON body', () => {
  assert.equal(apiRequest('GET /devices/{id}/telemetry', { params: { id: 'a/b c' }, query: { from: 1, to: 2, keys: ['t', 'h'], cursor: undefined } }), {
    method: 'GET',
    path: '/devices/a%2Fb%20c/telemetry?from=1&to=2&keys=t&keys=h',
  });
  assert.equal(apiRequest('POST /auth/login', { body: { email: 'a@example.com', password: 'pw' } }), {
    method: 'POST',
    path: '/auth/login',
    body: '{"email":"a@example.com","password":"pw"}',
  });
  assert.equal(apiRequest('GET /info'), { method: 'GET', path: '/info' });
  assert.throws(() => apiRequest('GET /devices/{id}', { params: { id: '' } }), /the path parameter id is missing/);
});

routes('every route the registry serves is one the client can call, at the path /openapi.json documents', () => {
  const documented = buildOpenApi(httpFunctions, { version: 'test' }).paths ?? {};
  for (const fn of httpFunctions) {
    const route = `${fn.method} ${fn.path}` as ApiRoute;
    const params = Object.fromEntries([...fn.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => [name, `p-${name}`]));
    // A route with a required body or query is called here without it: only its method and path are looked at.
    const request = apiRequest(route, { params } as never);
    assert.is(request.method, fn.method);
    assert.is(request.path, fn.path.replace(/\{(\w+)\}/g, (_, name: string) => `p-${name}`));
    assert.ok(documented[fn.path]?.[fn.method.toLowerCase() as 'get'], `${route} is documented`);
  }
});

routes.run();

// Compile-time: each line below must fail `tsc`; if one compiled, its @ts-expect-error would be unused and fail it.
export function callsTheRegistryDoesNotServe(): void {
  // @ts-expect-error a route that does not exist
  apiRequest('GET /devices/{id}/nothing', { params: { id: 'x' } });
  // @ts-expect-error a path parameter left out
  apiRequest('GET /devices/{id}', {});
  // @ts-expect-error a body field the route does not take
  apiRequest('POST /auth/login', { body: { email: 'a@example.com', password: 'pw', remember: true } });
  // @ts-expect-error an aggregation the query does not take
  apiRequest('GET /devices/{id}/telemetry', { params: { id: 'x' }, query: { interval: '1h', agg: 'median' } });
  const device = {} as ApiResponse<'GET /devices/{id}'>;
  // @ts-expect-error a field the answer does not have
  void device.serialNumber;
}

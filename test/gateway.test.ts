/**
 * The local gateway: every class of bad input answers problem+json with the right status, and the
 * built-in routes (/openapi.json, /docs, /healthz, /readyz, /metrics, /problems/*) answer.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { httpFunctions as functions } from '../functions/registry.ts';
import { problemKinds } from '../shared/problem.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './support/processes.ts';

const ctx: { p?: TestPlatform } = {};
const base = () => ctx.p!.url;

const errors = suite('gateway: bad input');
errors.before(async () => {
  ctx.p = await startPlatform({ env: { BODY_LIMIT_BYTES: '2048' } });
});

function isProblem(res: { status: number; headers: Headers; body: Record<string, unknown> }, status: number, type: string) {
  assert.is(res.status, status);
  assert.is(res.headers.get('content-type'), 'application/problem+json');
  assert.is(res.body.type, type);
  assert.is(res.body.status, status);
  assert.type(res.body.title, 'string');
  assert.type(res.body.detail, 'string');
}

errors('invalid JSON answers 400 invalid-json', async () => {
  isProblem(await call(base(), 'POST', '/auth/login', { raw: '{"email": ', headers: { 'content-type': 'application/json' } }), 400, '/problems/invalid-json');
});

errors('a wrong content type answers 415', async () => {
  isProblem(await call(base(), 'POST', '/auth/login', { raw: 'email=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, '/problems/unsupported-media-type');
});

errors('a body over the limit answers 413, declared or streamed', async () => {
  const big = JSON.stringify({ email: 'a@example.com', password: 'x'.repeat(4000) });
  isProblem(await call(base(), 'POST', '/auth/login', { raw: big, headers: { 'content-type': 'application/json' } }), 413, '/problems/payload-too-large');
  const chunked = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(big));
      controller.close();
    },
  });
  const res = await fetch(base() + '/auth/login', { method: 'POST', body: chunked, headers: { 'content-type': 'application/json' }, duplex: 'half', signal: AbortSignal.timeout(10_000) } as RequestInit);
  assert.is(res.status, 413);
});

errors('a missing body answers 400 validation naming the body', async () => {
  const res = await call(base(), 'POST', '/auth/login');
  isProblem(res, 400, '/problems/validation');
  assert.is(res.body.errors[0].path, 'body');
});

errors('a JSON body of the wrong shape answers 400 with each field', async () => {
  const res = await call(base(), 'POST', '/auth/login', { body: [1, 2] });
  isProblem(res, 400, '/problems/validation');
  const res2 = await call(base(), 'POST', '/auth/login', { body: { email: 5 } });
  assert.equal(res2.body.errors.map((e: { path: string }) => e.path).sort(), ['body.email', 'body.password']);
});

errors('an unknown route answers 404 and a wrong method 405 with Allow', async () => {
  isProblem(await call(base(), 'GET', '/no/such/route'), 404, '/problems/not-found');
  const res = await call(base(), 'DELETE', '/auth/login');
  isProblem(res, 405, '/problems/method-not-allowed');
  assert.is(res.headers.get('allow'), 'POST');
});

errors('a request id is echoed when sane and made up otherwise', async () => {
  const given = await call(base(), 'GET', '/auth/jwks.json', { headers: { 'x-request-id': 'abc-123' } });
  assert.is(given.headers.get('x-request-id'), 'abc-123');
  const made = await call(base(), 'GET', '/auth/jwks.json', { headers: { 'x-request-id': 'bad id with spaces' } });
  assert.match(made.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
});

errors('hostile input never answers 5xx', async () => {
  const bodies = ['null', '"text"', '123', '{"email":{"$gt":""},"password":[]}', '{"__proto__":{"x":1},"email":"a@b.co","password":"p"}', '\u0000', '{"email":"a@b.co","password":"' + '\\u0000'.repeat(100) + '"}'];
  for (const path of ['/auth/login', '/auth/register', '/auth/refresh']) {
    for (const raw of bodies) {
      const res = await call(base(), 'POST', path, { raw, headers: { 'content-type': 'application/json' } });
      assert.ok(res.status < 500, `${path} ${raw} answered ${res.status}`);
    }
  }
});

errors.after(async () => ctx.p?.close());
errors.run();

const builtins = suite('gateway: built-in routes');
builtins.before(async () => {
  ctx.p = await startPlatform();
});

builtins('/openapi.json is OpenAPI 3.1 with every registered route, its problems and security', async () => {
  const res = await call(base(), 'GET', '/openapi.json');
  assert.is(res.status, 200);
  assert.is(res.body.openapi, '3.1.0');
  for (const fn of functions) {
    const op = res.body.paths[fn.path]?.[fn.method.toLowerCase()];
    assert.ok(op, `${fn.method} ${fn.path} missing`);
    assert.is(op.operationId, fn.name);
    // Every operation states its security; a public one as none (`security: []`).
    assert.ok(Array.isArray(op.security), `${fn.name} states its security`);
    assert.is(op.security.length > 0, fn.auth !== 'none', `${fn.name} security`);
    for (const status of Object.keys(fn.responses)) assert.ok(op.responses[status], `${fn.name} ${status}`);
    assert.ok(op.responses['500'], `${fn.name} documents 500`);
    if (fn.auth === 'user') assert.ok(op.responses['401']);
    if (fn.body) {
      assert.ok(op.requestBody.content['application/json'].schema);
      assert.ok(op.responses['400'] && op.responses['413'] && op.responses['415']);
    }
  }
  const register = res.body.paths['/auth/register'].post;
  assert.equal(register.requestBody.content['application/json'].schema.required.sort(), ['email', 'password']);
  assert.ok(res.body.paths['/auth/login'].post.responses['429']);
  assert.ok(res.body.components.securitySchemes.bearerAuth);
  assert.equal(res.body.servers, [{ url: '/', description: 'this platform' }]);
});

builtins('/docs serves Swagger UI from the package, pointed at /openapi.json', async () => {
  const page = await fetch(base() + '/docs');
  assert.is(page.status, 200);
  const html = await page.text();
  assert.match(html, /swagger-ui-bundle\.js/);
  // Its icon is inline, the dashboard's own, so the page asks for no favicon file that is not there.
  const icon = /<link rel="icon" href="([^"]+)"/.exec(html)?.[1];
  assert.ok(icon?.startsWith('data:image/svg+xml,'), 'an inline icon');
  assert.is(icon, /<link rel="icon" href="([^"]+)"/.exec(readFileSync(join(repoRoot, 'dashboard/index.html'), 'utf8'))?.[1]);
  const init = await call(base(), 'GET', '/docs/docs-init.js');
  assert.match(init.body, /\/openapi\.json/);
  const bundle = await fetch(base() + '/docs/swagger-ui-bundle.js');
  assert.is(bundle.status, 200);
  assert.ok((await bundle.arrayBuffer()).byteLength > 100_000);
  assert.is((await call(base(), 'GET', '/docs/..%2Fpackage.json')).status, 404);
});

builtins('/healthz and /readyz answer 200 when PostgreSQL and Redis answer; the checks are on the internal port', async () => {
  assert.equal((await call(base(), 'GET', '/healthz')).body, { status: 'ok' });
  const ready = await call(base(), 'GET', '/readyz');
  assert.is(ready.status, 200);
  assert.equal(ready.body, { ready: true });
  const detailed = await call(ctx.p!.metricsUrl, 'GET', '/readyz');
  assert.equal(detailed.body.checks, { relational: 'ok', cache: 'ok', bus: 'ok', telemetry: 'ok' });
});

builtins('/metrics (internal port) counts requests by function and status in Prometheus text', async () => {
  await call(base(), 'POST', '/auth/login', { body: { email: 'metrics@example.com', password: 'wrong password!' } });
  const res = await fetch(ctx.p!.metricsUrl + '/metrics');
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const text = await res.text();
  assert.match(text, /iotfn_http_requests_total\{function="login",method="POST",status="401"\} \d+/);
  assert.match(text, /iotfn_http_request_duration_seconds_bucket\{le="0.005",function="login",method="POST",status="401"\}/);
  assert.match(text, /process_cpu_user_seconds_total/);
});

builtins('every problem type has a page at its type URI', async () => {
  for (const [kind, known] of Object.entries(problemKinds)) {
    const res = await call(base(), 'GET', `/problems/${kind}`);
    assert.is(res.status, 200);
    assert.is(res.body.status, known.status);
  }
});

builtins('/readyz answers 503; on the internal port it names the port that is down', async () => {
  const p = await startPlatform();
  await p.deps.cache.close();
  const bare = await call(p.url, 'GET', '/readyz');
  assert.is(bare.status, 503);
  assert.equal(bare.body, { ready: false });
  const res = await call(p.metricsUrl, 'GET', '/readyz');
  assert.is(res.status, 503);
  assert.is(res.body.checks.relational, 'ok');
  assert.is.not(res.body.checks.cache, 'ok');
  await p.close();
});

builtins('a protected route works with a token from the same gateway', async () => {
  const user = await signedInUser(base());
  assert.is((await call(base(), 'GET', '/auth/me', { token: user.accessToken })).status, 200);
});

builtins.after(async () => ctx.p?.close());
builtins.run();

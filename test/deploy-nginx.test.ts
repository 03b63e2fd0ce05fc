/**
 * NGINX in front of the platform, with the real NGINX (Debian's package).
 *
 * `nginx -t` resolves every host name it finds in `proxy_pass` or an `upstream` block when it loads a
 * configuration, and fails ("host not found in upstream") when a name does not resolve — as `login` and the
 * other Compose service names do not on this machine. `upstream x { server x:8080 resolve; }` would defer that,
 * but needs NGINX Plus or 1.27.3+. So the configuration names its upstreams through variables with a `resolver`
 * (Docker's embedded DNS in Compose): NGINX then resolves per request, and `nginx -t` checks the checked-in file
 * exactly as it is, service names and all. (It is also what keeps Compose working when a restarted container
 * comes back on a new address.)
 *
 * The runtime test renders the same template with every upstream at the loopback address of a local gateway
 * (which serves every function and, on the same port, the Socket.IO relay) and runs NGINX in front of it on a
 * free port: register and login, a Socket.IO handshake over WebSocket, request ids, and NGINX's own answers.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { httpFunctions } from '../functions/registry.ts';
import { functionPort, kebab } from '../deploy/settings.ts';
import { loginRate, nginxConf, renderNginx, routes } from '../deploy/renderers/nginx.ts';
import { call, goodPassword, randomEmail, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { freePort, repoRoot, startProcess, waitForHttp, type Started } from './support/processes.ts';
import { until } from './support/wait.ts';

const checkedInPath = join(repoRoot, 'deploy/nginx/nginx.conf');

/**
 * `nginx -t` on a file, with a scratch prefix, pid file and startup error log, so nothing of the system's is
 * touched. Its output goes to a file: the configuration logs to /dev/stdout, which NGINX opens, and opening
 * /dev/stdout fails (ENXIO) when it is the socket Node gives a child for a pipe; in a container it is a pipe.
 */
function nginxTest(file: string): { status: number | null; output: string } {
  const prefix = mkdtempSync(join(tmpdir(), 'iotfn-nginx-t-'));
  const outputFile = join(prefix, 'output');
  const fd = openSync(outputFile, 'w');
  try {
    const result = spawnSync('nginx', ['-t', '-p', prefix, '-c', file, '-e', join(prefix, 'error.log'), '-g', `pid ${join(prefix, 'nginx.pid')};`], {
      timeout: 15_000,
      stdio: ['ignore', fd, fd],
    });
    return { status: result.status, output: readFileSync(outputFile, 'utf8') };
  } finally {
    closeSync(fd);
    rmSync(prefix, { recursive: true, force: true });
  }
}

const config = suite('nginx.conf');

config('the checked-in file is what the renderer writes', () => {
  const [file] = renderNginx();
  assert.fixture(readFileSync(checkedInPath, 'utf8'), file!.content, 'deploy/nginx/nginx.conf is stale: run iotfn render');
});

config('`nginx -t` accepts the checked-in file as it is', () => {
  const { status, output } = nginxTest(checkedInPath);
  assert.is(status, 0, output);
  assert.match(output, /syntax is ok/);
});

config('every method and path of the registry has its location, and leads to its function', () => {
  const text = readFileSync(checkedInPath, 'utf8');
  for (const fn of httpFunctions) {
    const location = fn.path.includes('{') ? `location ~ ^${fn.path.replace(/\./g, '\\.').replace(/\{\w+\}/g, '[^/]+')}$ {` : `location = ${fn.path} {`;
    assert.ok(text.includes(location), `${fn.method} ${fn.path} has ${location}`);
  }
  // Each location's method map sends every method of the path to the function's service.
  for (const route of routes()) {
    const variable = /proxy_pass http:\/\/(\$iotfn_route_\w+);/.exec(text.slice(text.indexOf(`# ${route.path}: `)))?.[1];
    assert.ok(variable, `${route.path} proxies through a route variable`);
    const map = text.slice(text.indexOf(`map $request_method ${variable} {`)).split('}')[0]!;
    for (const [method, fn] of route.methods) assert.ok(map.includes(`${method} ${kebab(fn.name)}:${functionPort};`), `${method} ${route.path} → ${fn.name}`);
  }
  assert.match(text, /limit_req zone=iotfn_login/);
  assert.match(text, /client_max_body_size 1m;/);
  assert.match(text, /log_format iotfn_json escape=json/);
});

config.run();

// --- NGINX running in front of a local gateway ----------------------------------------------------------------

const live = suite('NGINX in front of the gateway, on loopback');
const ctx: { platform?: TestPlatform; nginx?: Started; prefix?: string; accessLog?: string; url?: string; sockets: Socket[] } = { sockets: [] };
const accessLog = () => readFileSync(ctx.accessLog!, 'utf8');

live.before(async () => {
  ctx.platform = await startPlatform();
  const gateway = new URL(ctx.platform.url).host;
  const port = await freePort();
  ctx.prefix = mkdtempSync(join(tmpdir(), 'iotfn-nginx-'));
  const file = join(ctx.prefix, 'nginx.conf');
  ctx.accessLog = join(ctx.prefix, 'access.log');
  writeFileSync(file, nginxConf({ listen: `127.0.0.1:${port}`, upstream: () => gateway, resolver: '127.0.0.1 valid=10s', accessLog: ctx.accessLog }));
  const check = nginxTest(file);
  if (check.status !== 0) throw new Error(check.output);
  ctx.nginx = startProcess('nginx', ['-p', ctx.prefix, '-c', file, '-e', join(ctx.prefix, 'error.log'), '-g', `daemon off; pid ${join(ctx.prefix, 'nginx.pid')};`], {});
  ctx.url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${ctx.url}/healthz`, ctx.nginx, 15_000);
});

live('register and login through NGINX, with the request id passed through and logged', async () => {
  const email = randomEmail('nginx');
  const registered = await call(ctx.url!, 'POST', '/auth/register', { body: { email, password: goodPassword }, headers: { 'x-request-id': 'nginx-test-register' } });
  assert.is(registered.status, 201);
  assert.is(registered.headers.get('x-request-id'), 'nginx-test-register', 'one request id, the client\'s');
  const login = await call(ctx.url!, 'POST', '/auth/login', { body: { email, password: goodPassword } });
  assert.is(login.status, 200);
  assert.type(login.body.accessToken, 'string');
  const generated = login.headers.get('x-request-id');
  assert.match(String(generated), /^[0-9a-f]{32}$/, 'NGINX made one when the client sent none');
  const me = await call(ctx.url!, 'GET', '/auth/me', { token: login.body.accessToken });
  assert.is(me.body.email, email);

  const line = await until('the access log line', () =>
    accessLog()
      .split('\n')
      .find((l) => l.includes('"request_id":"nginx-test-register"')),
  );
  const entry = JSON.parse(line) as Record<string, unknown>;
  assert.is(entry.method, 'POST');
  assert.is(entry.uri, '/auth/register');
  assert.is(entry.status, 201);
  assert.ok(accessLog().includes(`"request_id":"${generated}"`), 'the generated id is the one logged');
});

live('a request id the functions would refuse is replaced, not passed on', async () => {
  const res = await call(ctx.url!, 'GET', '/auth/jwks.json', { headers: { 'x-request-id': 'has spaces in it' } });
  assert.is(res.status, 200);
  assert.match(String(res.headers.get('x-request-id')), /^[0-9a-f]{32}$/);
});

live('a route with an {id} parameter reaches its function', async () => {
  const user = await signedInUser(ctx.url!, 'nginx-devices');
  const created = await call(ctx.url!, 'POST', '/devices', { token: user.accessToken, body: { name: 'Porch', type: 'sensor' } });
  assert.is(created.status, 201);
  const id = created.body.device.id as string;
  const got = await call(ctx.url!, 'GET', `/devices/${id}`, { token: user.accessToken });
  assert.is(got.status, 200);
  assert.is(got.body.name, 'Porch');
  const latest = await call(ctx.url!, 'GET', `/devices/${id}/telemetry/latest`, { token: user.accessToken });
  assert.is(latest.status, 200);
});

live('a Socket.IO handshake over WebSocket through NGINX connects with a token, and is refused without one', async () => {
  const user = await signedInUser(ctx.url!, 'nginx-socket');
  const handshake = (auth: Record<string, string>) =>
    Promise.race([
      new Promise<string>((resolve) => {
        const socket = io(ctx.url!, { path: '/socket.io', transports: ['websocket'], auth, reconnection: false, timeout: 5000 });
        ctx.sockets.push(socket);
        socket.on('connect', () => resolve('connected'));
        socket.on('connect_error', (error) => resolve(error.message));
      }),
      new Promise<string>((resolve) => setTimeout(resolve, 10_000, 'no answer within 10 s')),
    ]);
  assert.is(await handshake({ token: user.accessToken }), 'connected');
  assert.is(await handshake({ token: 'not-a-token' }), 'unauthorized');
});

live('NGINX answers a method no function takes with 405, Allow and a problem document', async () => {
  const res = await call(ctx.url!, 'DELETE', '/auth/login');
  assert.is(res.status, 405);
  assert.is(res.headers.get('allow'), 'POST');
  assert.is(res.headers.get('content-type'), 'application/problem+json');
  assert.is(res.body.type, '/problems/method-not-allowed');
  assert.is(res.body.detail, '/auth/login answers POST', 'answered by NGINX, not passed to the function');
  assert.ok(res.headers.get('x-request-id'));
});

live('an unknown path is a 404 problem, and a body over the limit a 413 problem', async () => {
  const missing = await call(ctx.url!, 'GET', '/nowhere');
  assert.is(missing.status, 404);
  assert.is(missing.body.type, '/problems/not-found');
  assert.is(missing.body.detail, 'No route for this path', 'answered by NGINX: the gateway never sees it');
  const big = await call(ctx.url!, 'POST', '/telemetry/query', { raw: 'x'.repeat(1024 * 1024 + 1), headers: { 'content-type': 'application/json' } });
  assert.is(big.status, 413);
  assert.is(big.body.type, '/problems/payload-too-large');
  assert.is(big.body.detail, 'The body is larger than 1m', 'answered by NGINX before the body reaches a function');
});

live('the API docs, the OpenAPI document and the dashboard come from the gateway', async () => {
  for (const path of ['/docs', '/openapi.json', '/', '/problems/not-found']) assert.is((await call(ctx.url!, 'GET', path)).status, 200, path);
});

live('a burst of logins from one address is cut off with 429 and Retry-After (run last: it spends the zone)', async () => {
  const attempts = loginRate.burst + 10;
  const answers = await Promise.all(
    Array.from({ length: attempts }, () => call(ctx.url!, 'POST', '/auth/login', { body: { email: randomEmail('flood'), password: goodPassword } })),
  );
  const limited = answers.filter((a) => a.status === 429);
  assert.ok(limited.length >= attempts - loginRate.burst - 2, `${limited.length} of ${attempts} limited`);
  assert.is(limited[0]!.headers.get('retry-after'), '1');
  assert.is(limited[0]!.body.type, '/problems/rate-limited');
  // The rest reached the login function: unknown emails, so 401.
  assert.ok(answers.filter((a) => a.status === 401).length > 0);
});

live.after(async () => {
  for (const socket of ctx.sockets) socket.close();
  await ctx.nginx?.stop();
  await ctx.platform?.close();
  if (ctx.prefix) rmSync(ctx.prefix, { recursive: true, force: true });
});

live.run();

/**
 * The security headers (shared/http/security-headers.ts), the problem pages of known kinds only, and the limits
 * on a request head (shared/http/request-limits.ts): on the gateway, on a functions-framework server, and the
 * HSTS header in the rendered NGINX configuration.
 *
 * Oversize heads are sent over raw sockets: fetch refuses some of them, and Node's client has limits of its own.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { io, type Socket } from 'socket.io-client';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { functions } from '../functions/registry.ts';
import { registerWithFunctionsFramework, takeOverFrameworkServer } from '../shared/http/framework-host.ts';
import { pageSecurityHeaders } from '../shared/http/security-headers.ts';
import { nginxConf } from '../deploy/renderers/nginx.ts';

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends `head` as it is and reads the answer until the server closes the connection. */
function rawRequest(base: string, head: string): Promise<RawAnswer> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(port), hostname, () => socket.write(head));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => (chunks.length > 0 ? undefined : reject(error)));
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [top = '', body = ''] = text.split('\r\n\r\n', 2);
      const [statusLine = '', ...lines] = top.split('\r\n');
      const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
  });
}

const bigHeaders = (path = '/auth/jwks.json') =>
  `GET ${path} HTTP/1.1\r\nHost: test\r\n${Array.from({ length: 20 }, (_, i) => `X-Filler-${i}: ${'f'.repeat(1024)}\r\n`).join('')}\r\n`;
const longUrl = (path: string, bytes: number) => `GET ${path}?pad=${'u'.repeat(bytes)} HTTP/1.1\r\nHost: test\r\n\r\n`;

function isRawProblem(answer: RawAnswer, status: number, type: string): void {
  assert.is(answer.status, status);
  assert.is(answer.headers['content-type'], 'application/problem+json');
  assert.is(answer.headers['x-content-type-options'], 'nosniff');
  assert.is(answer.headers.connection, 'close');
  assert.is(Number(answer.headers['content-length']), Buffer.byteLength(answer.body));
  const document = JSON.parse(answer.body) as { type: string; status: number };
  assert.is(document.type, type);
  assert.is(document.status, status);
}

// --- the gateway ---------------------------------------------------------------------------------------------

const gateway = suite('security headers and request limits on the gateway');
const ctx: { platform?: TestPlatform; sockets: Socket[] } = { sockets: [] };
const base = () => ctx.platform!.url;

gateway.before(async () => {
  ctx.platform = await startPlatform();
});

gateway.after(async () => {
  for (const socket of ctx.sockets) socket.close();
  await ctx.platform?.close();
});

gateway('the dashboard, the docs and the problem pages send the page headers: a strict CSP they keep to, no framing, nosniff, no referrer', async () => {
  for (const path of ['/', '/app/app.js', '/app/styles.css', '/docs', '/docs/docs-init.js', '/docs/swagger-ui-bundle.js', '/problems/validation']) {
    const res = await fetch(base() + path);
    assert.is(res.status, 200, path);
    for (const [name, value] of Object.entries(pageSecurityHeaders)) assert.is(res.headers.get(name), value, `${name} on ${path}`);
  }
  const csp = pageSecurityHeaders['content-security-policy']!;
  assert.match(csp, /(^|; )default-src 'self'(;|$)/);
  assert.match(csp, /(^|; )script-src 'self'(;|$)/);
  assert.match(csp, /(^|; )frame-ancestors 'none'(;|$)/);
  assert.not.match(csp, /unsafe-inline|unsafe-eval/);
  // So the pages may have no inline script or style (the browser test in dashboard.test.ts runs the dashboard).
  for (const path of ['/', '/docs']) {
    const html = await (await fetch(base() + path)).text();
    assert.not.match(html, /<script(?![^>]*\ssrc=)[^>]*>/, `every script of ${path} has a src`);
    assert.not.match(html, /\sstyle=|<style/, `no inline style in ${path}`);
  }
});

gateway('API answers send nosniff: a 200, a 401 problem, the OpenAPI document and the probes', async () => {
  const jwks = await call(base(), 'GET', '/auth/jwks.json');
  assert.is(jwks.status, 200);
  assert.is(jwks.headers.get('x-content-type-options'), 'nosniff');
  const devices = await call(base(), 'GET', '/devices');
  assert.is(devices.status, 401);
  assert.is(devices.headers.get('content-type'), 'application/problem+json');
  assert.is(devices.headers.get('x-content-type-options'), 'nosniff');
  for (const path of ['/openapi.json', '/healthz', '/no/such/route']) {
    assert.is((await call(base(), 'GET', path)).headers.get('x-content-type-options'), 'nosniff', path);
  }
});

gateway('a problem page exists only for a kind of the catalogue, never for a key of Object.prototype', async () => {
  for (const kind of ['constructor', '__proto__', 'hasOwnProperty', 'toString', 'valueOf', 'no-such-kind']) {
    const res = await call(base(), 'GET', `/problems/${kind}`);
    assert.is(res.status, 404, kind);
    assert.is(res.headers.get('content-type'), 'application/problem+json', kind);
    assert.is(res.body.type, '/problems/not-found', kind);
  }
  for (const kind of ['headers-too-large', 'uri-too-long']) assert.is((await call(base(), 'GET', `/problems/${kind}`)).status, 200, kind);
});

gateway('20 KiB of headers get 431 problem+json, and the connection is closed', async () => {
  isRawProblem(await rawRequest(base(), bigHeaders()), 431, '/problems/headers-too-large');
});

gateway('a 20 KiB URL gets 414 problem+json, and so does one over 8 KiB that Node itself would take', async () => {
  isRawProblem(await rawRequest(base(), longUrl('/auth/jwks.json', 20 * 1024)), 414, '/problems/uri-too-long');
  isRawProblem(await rawRequest(base(), longUrl('/auth/jwks.json', 10 * 1024)), 414, '/problems/uri-too-long');
  // A URL of a few KiB is still served.
  assert.is((await rawRequest(base(), longUrl('/auth/jwks.json', 4 * 1024).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'))).status, 200);
});

gateway('a request Node cannot parse gets 400 problem+json', async () => {
  isRawProblem(await rawRequest(base(), 'NOT HTTP AT ALL\r\n\r\n'), 400, '/problems/malformed-request');
});

gateway('the Socket.IO relay on the same server still connects (polling, then the WebSocket upgrade)', async () => {
  const user = await signedInUser(base(), 'csp-socket');
  const answer = await Promise.race([
    new Promise<string>((resolve) => {
      const socket = io(base(), { path: '/socket.io', auth: { token: user.accessToken }, reconnection: false, timeout: 5000 });
      ctx.sockets.push(socket);
      socket.on('connect', () => resolve('connected'));
      socket.on('connect_error', (error) => resolve(error.message));
    }),
    new Promise<string>((resolve) => setTimeout(resolve, 10_000, 'no answer within 10 s')),
  ]);
  assert.is(answer, 'connected');
});

gateway.run();

// --- a functions-framework server ---------------------------------------------------------------------------

const framework = suite('security headers and request limits on a functions-framework server');
const ff: { platform?: TestPlatform; server?: Server; url?: string } = {};

framework.before(async () => {
  ff.platform = await startPlatform({ local: false });
  await takeOverFrameworkServer(ff.platform.deps.config.BODY_LIMIT_BYTES);
  registerWithFunctionsFramework(functions, async () => ff.platform!.deps);
  ff.server = getTestServer('jwks');
  await new Promise<void>((resolve) => ff.server!.listen(0, '127.0.0.1', resolve));
  ff.url = `http://127.0.0.1:${(ff.server.address() as AddressInfo).port}`;
});

framework.after(async () => {
  ff.server?.closeAllConnections();
  await new Promise((resolve) => (ff.server ? ff.server.close(resolve) : resolve(undefined)));
  await ff.platform?.close();
});

framework('the function, its problems and its probes send nosniff', async () => {
  for (const [path, status] of [['/auth/jwks.json', 200], ['/auth/other', 404], ['/healthz', 200]] as const) {
    const res = await call(ff.url!, 'GET', path);
    assert.is(res.status, status, path);
    assert.is(res.headers.get('x-content-type-options'), 'nosniff', path);
  }
});

framework('20 KiB of headers get 431 and a long URL 414, both problem+json', async () => {
  isRawProblem(await rawRequest(ff.url!, bigHeaders()), 431, '/problems/headers-too-large');
  isRawProblem(await rawRequest(ff.url!, longUrl('/auth/jwks.json', 20 * 1024)), 414, '/problems/uri-too-long');
  isRawProblem(await rawRequest(ff.url!, longUrl('/auth/jwks.json', 10 * 1024)), 414, '/problems/uri-too-long');
});

framework.run();

// --- NGINX ----------------------------------------------------------------------------------------------------

const nginx = suite('HSTS in the rendered NGINX configuration');

nginx('every block that sets headers sets Strict-Transport-Security, since NGINX drops inherited add_header there', () => {
  const lines = nginxConf().split('\n').map((line) => line.trim());
  const open: string[][] = [];
  const missing: string[] = [];
  let blocks = 0;
  for (const line of lines) {
    if (line.endsWith('{')) open.push([line]);
    else if (line === '}') {
      const block = open.pop()!;
      if (block.some((l) => l.startsWith('add_header '))) {
        blocks += 1;
        if (!block.some((l) => /^add_header Strict-Transport-Security "max-age=\d+; includeSubDomains" always;$/.test(l))) missing.push(block[0]!);
      }
    } else open.at(-1)?.push(line);
  }
  assert.ok(blocks >= 3, `${blocks} blocks set headers`);
  assert.equal(missing, [], 'blocks that set headers without HSTS');
  assert.ok(lines.includes('server {') && lines.some((l) => l.startsWith('add_header Strict-Transport-Security')));
});

nginx.run();

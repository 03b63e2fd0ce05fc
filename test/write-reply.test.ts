/**
 * The one HTTP writer of the gateway and the functions-framework host (shared/http/write-reply.ts), on a bare
 * node:http server: the headers every reply carries, and what a reply Node refuses to write becomes.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeReply } from '../shared/http/write-reply.ts';
import type { OutgoingReply } from '../shared/http/harness.ts';

const writer = suite('write-reply');
const ctx: { server?: Server; url?: string; next?: (response: ServerResponse) => void; logged: unknown[] } = { logged: [] };
const log = { error: (...args: unknown[]) => void ctx.logged.push(args) };

writer.before(async () => {
  ctx.server = createServer((_request, response) => ctx.next!(response));
  await new Promise<void>((resolve) => ctx.server!.listen(0, '127.0.0.1', resolve));
  ctx.url = `http://127.0.0.1:${(ctx.server.address() as AddressInfo).port}`;
});
writer.after(async () => {
  ctx.server?.closeAllConnections();
  await new Promise((resolve) => ctx.server?.close(resolve));
});
writer.before.each(() => {
  ctx.logged = [];
});

function answering(reply: OutgoingReply): void {
  ctx.next = (response) => writeReply(response, reply, log);
}

writer('writes status, the API security headers, the reply headers and the body', async () => {
  answering({ status: 201, headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'r-1' }, body: '{"ok":true}' });
  const res = await fetch(ctx.url! + '/x');
  assert.is(res.status, 201);
  assert.is(res.headers.get('x-content-type-options'), 'nosniff');
  assert.is(res.headers.get('x-request-id'), 'r-1');
  assert.is(res.headers.get('content-length'), '11');
  assert.equal(await res.json(), { ok: true });
  assert.equal(ctx.logged, []);
});

writer('a header value Node refuses becomes a logged problem+json 500 under the reply\'s request id', async () => {
  answering({ status: 200, headers: { 'content-type': 'text/plain', 'x-request-id': 'r-2', 'x-bad': 'a\r\nset-cookie: x=1' }, body: 'hello' });
  const res = await fetch(ctx.url! + '/broken?q=1');
  assert.is(res.status, 500);
  assert.is(res.headers.get('content-type'), 'application/problem+json');
  assert.is(res.headers.get('x-request-id'), 'r-2');
  assert.is(res.headers.get('set-cookie'), null);
  assert.is(res.headers.get('x-bad'), null);
  const body = await res.json();
  assert.is(body.type, '/problems/internal');
  assert.is(body.instance, '/broken');
  assert.is(ctx.logged.length, 1);
});

writer('a status out of range becomes a 500 too', async () => {
  answering({ status: 42, headers: {}, body: 'odd' });
  const res = await fetch(ctx.url! + '/odd');
  assert.is(res.status, 500);
  assert.is((await res.json()).type, '/problems/internal');
});

writer('a reply after the head went out ends the connection instead of writing a second answer', async () => {
  ctx.next = (response) => {
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.write('partial');
    writeReply(response, { status: 500, headers: {}, body: 'late' }, log);
  };
  const failed = await fetch(ctx.url! + '/late').then((res) => res.text()).then(() => false, () => true);
  assert.ok(failed, 'the client sees a failure, not a truncated success');
  assert.is(ctx.logged.length, 1);
});

writer('HEAD gets the head and no body', async () => {
  answering({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'hello' });
  const res = await fetch(ctx.url! + '/x', { method: 'HEAD' });
  assert.is(res.status, 200);
  assert.is(res.headers.get('x-content-type-options'), 'nosniff');
  assert.is(await res.text(), '');
});

writer.run();

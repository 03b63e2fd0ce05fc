/**
 * The relay's sockets follow their session: a logout or a revoked session closes them at once (pushed as
 * `session.ended` on the bus, not found by the relay's slow backstop sweep), and a user's sockets and a
 * socket's subscriptions are capped. Against the real services, with the relay the platform runs.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { io as connect, type Socket } from 'socket.io-client';
import { call, goodPassword, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { relaySocket } from './support/relay-socket.ts';
import { sleep } from './support/bus.ts';

const ctx: { p?: TestPlatform; sockets: Socket[] } = { sockets: [] };
const maxSockets = 3;
const maxSubscriptions = 2;

/** Resolves with how the socket's session ended, or rejects after `withinMs`. */
function sessionEnd(socket: Socket, withinMs: number): Promise<{ ended: boolean; reason: string }> {
  return new Promise((resolve, reject) => {
    let ended = false;
    socket.once('session:ended', () => (ended = true));
    socket.once('disconnect', (reason) => resolve({ ended, reason }));
    setTimeout(() => reject(new Error(`the socket was still open ${withinMs} ms later`)), withinMs).unref();
  });
}

const test = suite('relay: sockets follow their session');
test.before(async () => {
  ctx.p = await startPlatform({ env: { RELAY_MAX_SOCKETS_PER_USER: String(maxSockets), RELAY_MAX_SUBSCRIPTIONS_PER_SOCKET: String(maxSubscriptions) } });
});
test.after(async () => {
  for (const socket of ctx.sockets) socket.disconnect();
  await ctx.p?.close();
});

test('a logout closes every socket of the session within a second; another session of the user stays', async () => {
  const user = await signedInUser(ctx.p!.url, 'relay-logout');
  const other = await call(ctx.p!.url, 'POST', '/auth/login', { body: { email: user.email, password: goodPassword } });
  assert.is(other.status, 200);
  const [a, b] = [await relaySocket(ctx.p!.url, user.accessToken, ctx.sockets), await relaySocket(ctx.p!.url, user.accessToken, ctx.sockets)];
  const kept = await relaySocket(ctx.p!.url, other.body.accessToken, ctx.sockets);
  const ends = [sessionEnd(a, 1000), sessionEnd(b, 1000)];
  assert.is((await call(ctx.p!.url, 'POST', '/auth/logout', { token: user.accessToken })).status, 204);
  for (const end of await Promise.all(ends)) assert.equal(end, { ended: true, reason: 'io server disconnect' });
  await sleep(200);
  assert.ok(kept.connected, 'the other session keeps its socket');
});

test('a refresh token used twice revokes the session and closes its sockets within a second', async () => {
  const user = await signedInUser(ctx.p!.url, 'relay-reuse');
  const socket = await relaySocket(ctx.p!.url, user.accessToken, ctx.sockets);
  const end = sessionEnd(socket, 1000);
  assert.is((await call(ctx.p!.url, 'POST', '/auth/refresh', { body: { refreshToken: user.refreshToken } })).status, 200);
  const reused = await call(ctx.p!.url, 'POST', '/auth/refresh', { body: { refreshToken: user.refreshToken } });
  assert.is(reused.status, 401);
  assert.equal(await end, { ended: true, reason: 'io server disconnect' });
});

test('a user holds at most RELAY_MAX_SOCKETS_PER_USER sockets; closing one frees its place', async () => {
  const user = await signedInUser(ctx.p!.url, 'relay-cap');
  const open = [];
  for (let i = 0; i < maxSockets; i++) open.push(await relaySocket(ctx.p!.url, user.accessToken, ctx.sockets));
  const refused = await relaySocket(ctx.p!.url, user.accessToken, ctx.sockets).then(
    () => undefined,
    (error: Error) => error.message,
  );
  assert.match(refused ?? 'connected', /too many connections/);
  open[0]!.disconnect();
  await sleep(200);
  const again = await relaySocket(ctx.p!.url, user.accessToken, ctx.sockets);
  assert.ok(again.connected);
});

test('parallel handshakes of one user cannot pass the cap together', async () => {
  const user = await signedInUser(ctx.p!.url, 'relay-race');
  const sockets = Array.from({ length: maxSockets * 3 }, () => {
    const socket = connect(ctx.p!.url, { path: '/socket.io', auth: { token: user.accessToken }, transports: ['websocket'], reconnection: false, timeout: 5000 });
    ctx.sockets.push(socket);
    return new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true));
      socket.once('connect_error', () => resolve(false));
    });
  });
  const outcomes = await Promise.all(sockets);
  assert.is(outcomes.filter(Boolean).length, maxSockets);
});

test('a socket watches at most RELAY_MAX_SUBSCRIPTIONS_PER_SOCKET devices; the rest are refused with a reason', async () => {
  const user = await signedInUser(ctx.p!.url, 'relay-subs');
  const ids: string[] = [];
  for (const name of ['a', 'b', 'c']) {
    const res = await call(ctx.p!.url, 'POST', '/devices', { token: user.accessToken, body: { name, type: 'sensor' } });
    ids.push(res.body.device.id);
  }
  const socket = await relaySocket(ctx.p!.url, user.accessToken, ctx.sockets);
  const subscribe = (deviceIds: string[]) => socket.timeout(5000).emitWithAck('subscribe', { deviceIds });
  const first = await subscribe(ids);
  assert.equal(first.accepted, ids.slice(0, maxSubscriptions));
  assert.equal(first.refused, ids.slice(maxSubscriptions));
  assert.match(first.error, /too many subscriptions/);
  const again = await subscribe([ids[0]!]);
  assert.equal(again, { accepted: [ids[0]], refused: [] }, 'a device already watched is no new subscription');
  await socket.timeout(5000).emitWithAck('unsubscribe', { deviceIds: [ids[0]] });
  assert.equal((await subscribe([ids[2]!])).accepted, [ids[2]], 'unsubscribing frees a place');
});

test.run();

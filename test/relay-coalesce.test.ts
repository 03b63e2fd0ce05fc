/**
 * The relay's coalescing window (RELAY_COALESCE_MS), end to end: POST /telemetry → RabbitMQ → relay → a
 * Socket.IO client. The first point after a quiet window goes out at once; what comes inside the window goes
 * out merged when the window ends (the newest value of each key), at most one update per window; a window
 * with nothing new closes, so the next point goes out at once again. An update's latency is therefore at most
 * the window plus the uncoalesced latency. The window is long here (WINDOW_MS) so that the machine's noise
 * cannot pass for either edge.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Socket } from 'socket.io-client';
import type { LiveTelemetry } from '../shared/messages.ts';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { relaySocket } from './support/relay-socket.ts';
import { sleep } from './support/bus.ts';
import { until } from './support/wait.ts';

const WINDOW_MS = 400;
/** What an uncoalesced update may take on a busy shared machine, at most: far below the window. */
const PROMPT_MS = 150;

const ctx: { p?: TestPlatform; sockets: Socket[]; token?: string; deviceId?: string; socket?: Socket; live: Array<LiveTelemetry & { at: number }> } = { sockets: [], live: [] };

const send = async (body: unknown) => {
  const res = await call(ctx.p!.url, 'POST', '/telemetry', { body, headers: { authorization: `Device ${ctx.token!}` } });
  assert.is(res.status, 202);
};
/** The next update after `count` updates, with when it arrived. */
const update = (count: number) => until(`update ${count + 1}`, () => ctx.live[count], 5_000);

const test = suite('relay: coalescing window, leading edge');
test.before(async () => {
  ctx.p = await startPlatform({ env: { RELAY_COALESCE_MS: String(WINDOW_MS) } });
  const owner = await signedInUser(ctx.p.url, 'coalesce');
  const res = await call(ctx.p.url, 'POST', '/devices', { token: owner.accessToken, body: { name: 'Coalesced', type: 'sensor' } });
  assert.is(res.status, 201);
  ctx.deviceId = res.body.device.id;
  ctx.token = res.body.deviceToken;
  ctx.socket = await relaySocket(ctx.p.url, owner.accessToken, ctx.sockets);
  ctx.socket.on('telemetry', (u: LiveTelemetry) => ctx.live.push({ ...u, at: Date.now() }));
  const ack = await ctx.socket.timeout(5000).emitWithAck('subscribe', { deviceIds: [ctx.deviceId] });
  assert.equal(ack.accepted, [ctx.deviceId]);
});
test.after(async () => {
  for (const socket of ctx.sockets) socket.disconnect();
  await ctx.p?.close();
});

test('the first point after a quiet window goes out at once, not at the end of the window', async () => {
  const sentAt = Date.now();
  await send({ ts: sentAt, values: { n: 1 } });
  const first = await update(0);
  assert.equal({ ts: first.ts, values: first.values }, { ts: sentAt, values: { n: 1 } });
  assert.ok(first.at - sentAt < PROMPT_MS, `arrived ${first.at - sentAt} ms after it was sent; the window is ${WINDOW_MS} ms`);
});

test('points inside the window go out once, merged to the newest, when the window ends', async () => {
  const opened = ctx.live[0]!.at;
  const t = ctx.live[0]!.ts;
  await send({ ts: t + 1, values: { n: 2, mode: 'a' } });
  await send({ ts: t + 3, values: { n: 4 } });
  // Older than the newest in the window: it fills in no key and does not win.
  await send({ ts: t + 2, values: { n: 3, mode: 'b' } });
  assert.ok(Date.now() - opened < WINDOW_MS, 'the three points were sent inside the window (a slow machine would void the test)');
  const merged = await update(1);
  assert.equal({ ts: merged.ts, values: merged.values }, { ts: t + 3, values: { n: 4, mode: 'a' } });
  const after = merged.at - opened;
  // One update per window: not before the window ends, and no later than the window plus a prompt update.
  assert.ok(after >= WINDOW_MS - 20, `the merged update came ${after} ms after the first, inside the window`);
  assert.ok(after < WINDOW_MS + PROMPT_MS, `the merged update came ${after} ms after the first; the window is ${WINDOW_MS} ms`);
  await sleep(WINDOW_MS * 2);
  assert.is(ctx.live.length, 2, 'a window with nothing new sends nothing');
});

test('a point older than what was sent does not go out after it', async () => {
  const newest = ctx.live.at(-1)!;
  // The last window closed empty: this one goes out at once and opens a window.
  const sentAt = Date.now();
  await send({ ts: newest.ts + 10, values: { n: 10 } });
  const opening = await update(2);
  assert.ok(opening.at - sentAt < PROMPT_MS, `arrived ${opening.at - sentAt} ms after it was sent`);
  await send({ ts: newest.ts + 5, values: { n: 5 } });
  await sleep(WINDOW_MS * 2);
  assert.is(ctx.live.length, 3, `no update carries the older point: ${JSON.stringify(ctx.live.slice(3))}`);
});

test.run();

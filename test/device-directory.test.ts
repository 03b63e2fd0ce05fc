/**
 * The devices directory (functions/devices/device-directory.ts) on the real services, through the port the
 * other domains hold (`deps.directory`): who may see which device (owner, admin, anyone else), ids it never
 * trusts (malformed, unknown, upper case), owner and place of a device, a deleted device being unknown at
 * once although the lookups are cached, and a rule for a device deleted behind the directory's back.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { functionNamed } from '../functions/registry.ts';
import { Problem } from '../shared/problem.ts';
import type { HttpFunction } from '../shared/function.ts';
import type { DeviceDirectory } from '../shared/ports/device-directory.ts';

type User = Awaited<ReturnType<typeof signedInUser>>;
const ctx: { p?: TestPlatform; owner?: User; other?: User } = {};
const directory = () => ctx.p!.deps.directory;
const viewer = (user: User, role: 'user' | 'admin' = 'user') => ({ userId: user.userId, role });

async function newDevice(body: Record<string, unknown> = {}): Promise<string> {
  const res = await call(ctx.p!.url, 'POST', '/devices', { token: ctx.owner!.accessToken, body: { name: 'Dir', type: 'sensor', ...body } });
  assert.is(res.status, 201);
  return res.body.device.id as string;
}

const dir = suite('devices directory');

dir.before(async () => {
  ctx.p = await startPlatform({ local: false });
  ctx.owner = await signedInUser(ctx.p.url, 'dir-owner');
  ctx.other = await signedInUser(ctx.p.url, 'dir-other');
});

dir.after(async () => ctx.p?.close());

dir('the owner sees their devices, another user none of them, an admin all; untrusted ids are simply absent', async () => {
  const [a, b] = [await newDevice(), await newDevice()];
  const asked = [a, b.toUpperCase(), randomUUID(), 'not-a-uuid', "'; DROP TABLE devices; --", a];
  assert.equal([...(await directory().visibleDevices(viewer(ctx.owner!), asked))].sort(), [a, b].sort(), 'lower-cased, once each');
  assert.equal([...(await directory().visibleDevices(viewer(ctx.other!), asked))], []);
  assert.equal([...(await directory().visibleDevices(viewer(ctx.other!, 'admin'), asked))].sort(), [a, b].sort());
  assert.equal([...(await directory().visibleDevices(viewer(ctx.owner!), []))], []);
  // Asked twice: the second answer comes from the cache and must be the same.
  assert.ok(await directory().canSee(viewer(ctx.owner!), a));
  assert.ok(await directory().canSee(viewer(ctx.owner!), a));
  assert.not.ok(await directory().canSee(viewer(ctx.other!), a));
  assert.not.ok(await directory().canSee(viewer(ctx.owner!), 'nope'));
});

dir('owner and place of a device', async () => {
  const placed = await newDevice({ location: { lat: 48.1, lon: 11.6 } });
  const nowhere = await newDevice();
  assert.is(await directory().ownerOf(placed), ctx.owner!.userId);
  assert.is(await directory().ownerOf(randomUUID()), undefined);
  assert.is(await directory().ownerOf('nope'), undefined);
  assert.equal(await directory().locationOf(placed), { lat: 48.1, lon: 11.6 });
  assert.is(await directory().locationOf(nowhere), null);
  assert.is(await directory().locationOf(randomUUID()), null);
});

dir('a deleted device is unknown at once, cached or not', async () => {
  const id = await newDevice();
  assert.ok(await directory().canSee(viewer(ctx.owner!), id), 'seen once, so cached');
  assert.is((await call(ctx.p!.url, 'DELETE', `/devices/${id}`, { token: ctx.owner!.accessToken })).status, 204);
  assert.not.ok(await directory().canSee(viewer(ctx.owner!), id));
  assert.is(await directory().ownerOf(id), undefined);
  assert.is((await call(ctx.p!.url, 'GET', `/devices/${id}/telemetry`, { token: ctx.owner!.accessToken })).status, 404);
  assert.is((await call(ctx.p!.url, 'POST', `/devices/${id}/rules`, { token: ctx.owner!.accessToken, body: { key: 't', op: 'gt', value: 1 } })).status, 404);
});

dir('a rule for a device deleted after the directory answered is a 404, not a 500', async () => {
  const id = await newDevice();
  assert.is((await call(ctx.p!.url, 'DELETE', `/devices/${id}`, { token: ctx.owner!.accessToken })).status, 204);
  // A directory that still answers from before the delete: the rule's foreign key has the last word.
  const stale: DeviceDirectory = { ...directory(), canSee: async () => true, ownerOf: async () => ctx.owner!.userId };
  const addAlertRule = functionNamed('addAlertRule') as HttpFunction;
  const user = { ...viewer(ctx.owner!), sessionId: 's', expiresAt: Date.now() + 60_000 };
  const error = await addAlertRule
    .handler({ params: { id }, body: { key: 't', op: 'gt', value: 1 }, user, deps: { ...ctx.p!.deps, directory: stale }, query: undefined } as never)
    .then(() => undefined, (e: unknown) => e);
  assert.instance(error, Problem);
  assert.is((error as Problem).status, 404);
});

dir.run();

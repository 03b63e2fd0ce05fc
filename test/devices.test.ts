/**
 * The devices functions through the gateway, against the real PostgreSQL, Redis and RabbitMQ: CRUD, bulk,
 * search, owner isolation, token rotation, and the device events on the bus.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { call, signedInUser, startPlatform, type TestPlatform } from './support/platform.ts';
import { collect, type Collector } from './support/bus.ts';
import { exchanges } from '../shared/bus/topology.ts';
import { setUserRole } from '../functions/signing/model/users.ts';
import { EXACT_UP_TO } from '../functions/devices/search-devices.ts';

type User = Awaited<ReturnType<typeof signedInUser>>;
const ctx: { p?: TestPlatform; a?: User; b?: User; admin?: User } = {};
const base = () => ctx.p!.url;
const adminEmail = `admin-${Math.random().toString(36).slice(2, 8)}@example.com`;

async function addDevice(token: string, fields: Record<string, unknown> = {}) {
  const res = await call(base(), 'POST', '/devices', { token, body: { name: 'Sensor', type: 'sensor', ...fields } });
  assert.is(res.status, 201, JSON.stringify(res.body));
  return res.body as { device: { id: string; [k: string]: unknown }; deviceToken: string };
}

const crud = suite('devices: CRUD');
crud.before(async () => {
  ctx.p = await startPlatform();
  ctx.a = await signedInUser(base(), 'alice');
  ctx.b = await signedInUser(base(), 'bob');
});

crud('add answers the device and a token shown once', async () => {
  const { device, deviceToken } = await addDevice(ctx.a!.accessToken, {
    name: 'Greenhouse',
    tags: ['north', 'north', 'glass'],
    metadata: { model: 'TH-2', rev: 3 },
    location: { lat: 48.85, lon: 2.35 },
  });
  assert.match(deviceToken, /^dt_[\w-]{43}$/);
  assert.is(device.name, 'Greenhouse');
  assert.equal(device.tags, ['north', 'glass']);
  assert.equal(device.metadata, { model: 'TH-2', rev: 3 });
  assert.equal(device.location, { lat: 48.85, lon: 2.35 });
  assert.is(device.status, 'active');
  assert.is(device.online, false);
  assert.is(device.lastSeenAt, null);
  assert.is(device.ownerId, ctx.a!.userId);
  const got = await call(base(), 'GET', `/devices/${device.id}`, { token: ctx.a!.accessToken });
  assert.is(got.status, 200);
  assert.equal(got.body, device);
  const { rows } = await ctx.p!.deps.db.query<{ token_hash: string }>('SELECT token_hash FROM devices WHERE id = $1', [device.id]);
  assert.is.not(rows[0]!.token_hash, deviceToken);
  assert.not.ok(JSON.stringify(got.body).includes(deviceToken));
});

crud('update changes only what is given; delete removes', async () => {
  const { device } = await addDevice(ctx.a!.accessToken, { tags: ['a'] });
  const patched = await call(base(), 'PATCH', `/devices/${device.id}`, { token: ctx.a!.accessToken, body: { name: 'Renamed', location: null } });
  assert.is(patched.status, 200);
  assert.is(patched.body.name, 'Renamed');
  assert.is(patched.body.type, 'sensor');
  assert.equal(patched.body.tags, ['a']);
  assert.is(patched.body.location, null);
  assert.ok(Date.parse(patched.body.updatedAt) >= Date.parse(device.updatedAt as string));
  assert.is((await call(base(), 'PATCH', `/devices/${device.id}`, { token: ctx.a!.accessToken, body: {} })).status, 400);
  assert.is((await call(base(), 'DELETE', `/devices/${device.id}`, { token: ctx.a!.accessToken })).status, 204);
  assert.is((await call(base(), 'GET', `/devices/${device.id}`, { token: ctx.a!.accessToken })).status, 404);
  assert.is((await call(base(), 'DELETE', `/devices/${device.id}`, { token: ctx.a!.accessToken })).status, 404);
});

crud('bad input names the fields; a malformed id is 400, an unknown one 404', async () => {
  const res = await call(base(), 'POST', '/devices', { token: ctx.a!.accessToken, body: { name: '', location: { lat: 200, lon: 0 } } });
  assert.is(res.status, 400);
  assert.equal(res.body.errors.map((e: { path: string }) => e.path).sort(), ['body.location.lat', 'body.name', 'body.type']);
  assert.is((await call(base(), 'GET', '/devices/not-a-uuid', { token: ctx.a!.accessToken })).status, 400);
  assert.is((await call(base(), 'GET', '/devices/00000000-0000-4000-8000-000000000000', { token: ctx.a!.accessToken })).status, 404);
  assert.is((await call(base(), 'GET', '/devices')).status, 401);
});

crud('bulk creates every device with its own token, or none at all', async () => {
  const before = (await call(base(), 'GET', '/devices?limit=1', { token: ctx.b!.accessToken })).body.total;
  const devices = Array.from({ length: 50 }, (_, i) => ({ name: `Bulk ${i}`, type: 'meter', tags: ['bulk'] }));
  const res = await call(base(), 'POST', '/devices/bulk', { token: ctx.b!.accessToken, body: { devices } });
  assert.is(res.status, 201);
  assert.is(res.body.devices.length, 50);
  assert.equal(res.body.devices.map((d: { device: { name: string } }) => d.device.name), devices.map((d) => d.name));
  assert.is(new Set(res.body.devices.map((d: { deviceToken: string }) => d.deviceToken)).size, 50);
  const bad = await call(base(), 'POST', '/devices/bulk', { token: ctx.b!.accessToken, body: { devices: [...devices, { name: 'x' }] } });
  assert.is(bad.status, 400);
  assert.is(bad.body.errors[0].path, 'body.devices.50.type');
  const tooMany = await call(base(), 'POST', '/devices/bulk', { token: ctx.b!.accessToken, body: { devices: Array.from({ length: 1001 }, () => devices[0]) } });
  assert.is(tooMany.status, 400);
  const after = (await call(base(), 'GET', '/devices?limit=1', { token: ctx.b!.accessToken })).body.total;
  assert.is(after, before + 50);
});

crud('another user cannot read, change, delete or rotate the device: 404 as if it did not exist', async () => {
  const { device } = await addDevice(ctx.a!.accessToken);
  const asB = { token: ctx.b!.accessToken };
  assert.is((await call(base(), 'GET', `/devices/${device.id}`, asB)).status, 404);
  assert.is((await call(base(), 'PATCH', `/devices/${device.id}`, { ...asB, body: { name: 'mine now' } })).status, 404);
  assert.is((await call(base(), 'DELETE', `/devices/${device.id}`, asB)).status, 404);
  assert.is((await call(base(), 'POST', `/devices/${device.id}/token`, asB)).status, 404);
  const search = await call(base(), 'GET', '/devices?limit=100', asB);
  assert.not.ok(search.body.items.some((d: { id: string }) => d.id === device.id));
  assert.is((await call(base(), 'GET', `/devices/${device.id}`, { token: ctx.a!.accessToken })).body.name, 'Sensor');
});

crud('an admin sees and changes every device', async () => {
  ctx.admin = await (async () => {
    await call(base(), 'POST', '/auth/register', { body: { email: adminEmail, password: 'correct horse battery staple' } });
    // Granted as `iotfn admin grant` does it: registering never makes an admin.
    await setUserRole(ctx.p!.deps.db, adminEmail, 'admin');
    const login = await call(base(), 'POST', '/auth/login', { body: { email: adminEmail, password: 'correct horse battery staple' } });
    return { email: adminEmail, userId: '', accessToken: login.body.accessToken as string, refreshToken: '' };
  })();
  const { device } = await addDevice(ctx.a!.accessToken, { name: 'Watched' });
  assert.is((await call(base(), 'GET', `/devices/${device.id}`, { token: ctx.admin.accessToken })).status, 200);
  const all = await call(base(), 'GET', `/devices?q=watched&limit=100`, { token: ctx.admin.accessToken });
  assert.ok(all.body.items.some((d: { id: string }) => d.id === device.id));
});

crud.after(async () => ctx.p?.close());
crud.run();

const search = suite('devices: search and pagination');
const fleet: { owner?: User; ids: string[] } = { ids: [] };
search.before(async () => {
  ctx.p = await startPlatform();
  fleet.owner = await signedInUser(base(), 'fleet');
  const devices = Array.from({ length: 37 }, (_, i) => ({
    name: `${i % 2 ? 'Pump' : 'Meter'} ${String(i).padStart(2, '0')}`,
    type: i % 3 === 0 ? 'gateway' : 'sensor',
    tags: [i % 2 ? 'water' : 'power', ...(i % 5 === 0 ? ['critical'] : [])],
  }));
  const res = await call(base(), 'POST', '/devices/bulk', { token: fleet.owner.accessToken, body: { devices } });
  fleet.ids = res.body.devices.map((d: { device: { id: string } }) => d.device.id);
  // Two single adds after the bulk, so created_at differs across the set and ties are broken by id.
  for (const name of ['Zeta valve', 'alpha valve']) fleet.ids.push((await addDevice(fleet.owner.accessToken, { name, tags: ['water'] })).device.id);
});

async function pageThrough(query: string, limit: number) {
  const seen: Array<{ id: string; name: string; createdAt: string }> = [];
  let cursor: string | null = null;
  let total = -1;
  for (let page = 0; page < 100; page++) {
    const res: { status: number; body: any } = await call(base(), 'GET', `/devices?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, { token: fleet.owner!.accessToken }); // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.is(res.status, 200, JSON.stringify(res.body));
    assert.ok(res.body.items.length <= limit);
    total = res.body.total;
    seen.push(...res.body.items);
    cursor = res.body.nextCursor;
    if (!cursor) break;
  }
  return { seen, total };
}

search('every sort order pages to the end without repeats or gaps', async () => {
  for (const sort of ['name', '-name', 'createdAt', '-createdAt']) {
    const { seen, total } = await pageThrough(`sort=${sort}`, 7);
    assert.is(total, 39);
    assert.is(seen.length, 39, sort);
    assert.is(new Set(seen.map((d) => d.id)).size, 39, `${sort} repeats`);
    assert.equal(new Set(seen.map((d) => d.id)), new Set(fleet.ids));
    const keys = seen.map((d) => (sort.endsWith('name') ? d.name.toLowerCase() : d.createdAt));
    const sorted = [...keys].sort();
    assert.equal(keys, sort.startsWith('-') ? sorted.reverse() : sorted, `${sort} order`);
  }
});

search('filters: q on name and tags, type, tag (all of), status', async () => {
  const byQ = await pageThrough('q=PUMP', 100);
  assert.is(byQ.total, 18);
  assert.ok(byQ.seen.every((d) => d.name.startsWith('Pump')));
  assert.is((await pageThrough('q=critic', 100)).total, 8);
  assert.is((await pageThrough('q=valve', 100)).total, 2);
  assert.is((await pageThrough('type=gateway', 100)).total, 13);
  assert.is((await pageThrough('tag=water', 100)).total, 20);
  assert.is((await pageThrough('tag=power,critical', 100)).total, 4);
  assert.is((await pageThrough('tag=power&tag=critical', 100)).total, 4);
  assert.is((await pageThrough('q=meter&type=gateway&tag=critical', 100)).total, 2);
  assert.is((await pageThrough('q=50%25', 100)).total, 0, 'LIKE wildcards in q are literal');
  const target = fleet.ids[0]!;
  await call(base(), 'PATCH', `/devices/${target}`, { token: fleet.owner!.accessToken, body: { status: 'disabled' } });
  const disabled = await pageThrough('status=disabled', 100);
  assert.equal(disabled.seen.map((d) => d.id), [target]);
  assert.is((await pageThrough('status=active', 100)).total, 38);
});

search('a bad cursor, a cursor of another sort, and bad parameters answer 400', async () => {
  const first = await call(base(), 'GET', '/devices?sort=name&limit=2', { token: fleet.owner!.accessToken });
  const other = await call(base(), 'GET', `/devices?sort=-createdAt&limit=2&cursor=${first.body.nextCursor}`, { token: fleet.owner!.accessToken });
  assert.is(other.status, 400);
  assert.is(other.body.errors[0].path, 'query.cursor');
  assert.is((await call(base(), 'GET', '/devices?cursor=garbage', { token: fleet.owner!.accessToken })).status, 400);
  assert.is((await call(base(), 'GET', '/devices?limit=101', { token: fleet.owner!.accessToken })).status, 400);
  assert.is((await call(base(), 'GET', '/devices?sort=color', { token: fleet.owner!.accessToken })).status, 400);
  assert.is((await call(base(), 'GET', '/devices?online=maybe', { token: fleet.owner!.accessToken })).status, 400);
});

search('total: exact up to EXACT_UP_TO matches, estimated above it unless count=exact asks, never below what exists', async () => {
  const owner = await signedInUser(base(), 'many');
  const made = EXACT_UP_TO + 5;
  for (let from = 0; from < made; from += 1000) {
    const devices = Array.from({ length: Math.min(1000, made - from) }, (_, i) => ({ name: `Many ${from + i}`, type: i % 2 ? 'odd' : 'even' }));
    assert.is((await call(base(), 'POST', '/devices/bulk', { token: owner.accessToken, body: { devices } })).status, 201);
  }
  const search = async (query: string) => {
    const res = await call(base(), 'GET', `/devices?${query}`, { token: owner.accessToken });
    assert.is(res.status, 200, JSON.stringify(res.body));
    return res.body as { items: unknown[]; total: number; totalIsEstimate: boolean };
  };
  const estimated = await search('limit=5');
  assert.is(estimated.totalIsEstimate, true);
  assert.ok(estimated.total > EXACT_UP_TO, `an estimate never answers fewer than the ${EXACT_UP_TO + 1} matches it saw: ${estimated.total}`);
  const exact = await search('limit=5&count=exact');
  assert.equal([exact.total, exact.totalIsEstimate], [made, false]);
  // Below the bound the default is exact: half of them by type, and a type no device has.
  const odd = await search('type=odd&limit=5');
  assert.equal([odd.total, odd.totalIsEstimate], [Math.floor(made / 2), false]);
  assert.equal([(await search('type=none&count=estimated')).total, (await search('type=none')).totalIsEstimate], [0, false]);
  // Another owner's count never includes these.
  const small = await call(base(), 'GET', '/devices?limit=1&count=exact', { token: fleet.owner!.accessToken });
  assert.equal([small.body.total, small.body.totalIsEstimate], [39, false]);
  const bad = await call(base(), 'GET', '/devices?count=roughly', { token: owner.accessToken });
  assert.is(bad.status, 400);
  assert.match(bad.headers.get('content-type') ?? '', /application\/problem\+json/);
  assert.is(bad.body.errors[0].path, 'query.count');
});

search.after(async () => ctx.p?.close());
search.run();

const events = suite('devices: events on the bus');
const ev: { collector?: Collector; user?: User } = {};
events.before(async () => {
  ctx.p = await startPlatform();
  ev.user = await signedInUser(base(), 'events');
  ev.collector = await collect(ctx.p.deps.bus, [{ exchange: exchanges.events, pattern: 'device.*' }]);
});

events('created, updated, token_rotated and deleted arrive in order, as CloudEvents', async () => {
  const { device } = await addDevice(ev.user!.accessToken);
  await call(base(), 'PATCH', `/devices/${device.id}`, { token: ev.user!.accessToken, body: { name: 'Changed' } });
  await call(base(), 'POST', `/devices/${device.id}/token`, { token: ev.user!.accessToken });
  await call(base(), 'DELETE', `/devices/${device.id}`, { token: ev.user!.accessToken });
  const deadline = Date.now() + 10_000;
  let mine: ReturnType<Collector['events']> = [];
  while (Date.now() < deadline) {
    mine = ev.collector!.events().filter((e) => e.subject === device.id);
    if (mine.length >= 4) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(mine.map((e) => e.type), ['iotfn.device.created', 'iotfn.device.updated', 'iotfn.device.token_rotated', 'iotfn.device.deleted']);
  assert.is(mine[0]!.data.device.name, 'Sensor');
  assert.is(mine[0]!.data.ownerId, ev.user!.userId);
  assert.equal(mine[1]!.data.changed, ['name']);
  const messages = ev.collector!.messages.filter((m) => JSON.parse(m.body.toString()).subject === device.id);
  assert.equal(messages.map((m) => m.routingKey), ['device.created', 'device.updated', 'device.token_rotated', 'device.deleted']);
  assert.equal(messages.map((m) => m.id), mine.map((e) => e.id));
  assert.not.ok(JSON.stringify(mine).includes('dt_'), 'no token in events');
});

events('a bulk add sends one created event per device', async () => {
  const before = ev.collector!.messages.length;
  await call(base(), 'POST', '/devices/bulk', { token: ev.user!.accessToken, body: { devices: Array.from({ length: 20 }, (_, i) => ({ name: `E${i}`, type: 't' })) } });
  await ev.collector!.waitFor(before + 20);
  const created = ev.collector!.events().slice(before).filter((e) => e.type === 'iotfn.device.created');
  assert.is(created.length, 20);
});

events.after(async () => {
  await ev.collector?.stop();
  await ctx.p?.close();
});
events.run();

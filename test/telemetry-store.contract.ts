/**
 * The behaviour every adapter of the telemetry store port must show (shared/ports/telemetry-store.ts).
 * Each adapter's test calls `telemetryStoreContract` once; the suite runs against whatever `make` returns.
 *
 * Every test writes to devices of its own (random uuids), so runs against a shared server never meet.
 * Data sits two days back: well inside any retention, so neither MongoDB's TTL nor a retention job running
 * against the same server removes it mid-test. The PostgreSQL expiry test writes in 1990 instead, since
 * `expire` removes old values of every device and nothing else keeps telemetry that old.
 */
import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mulberry32 } from '../simulators/prng.ts';
import type {
  Aggregation,
  Bucket,
  StoredValue,
  TelemetryMessage,
  TelemetryStore,
  TelemetryValue,
} from '../shared/ports/telemetry-store.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** 10:17 UTC two days ago: not on an hour, so the first buckets are partial. */
const T0 = Math.floor(Date.now() / DAY) * DAY - 2 * DAY + 10 * HOUR + 17 * MINUTE;

/** Values with exact binary fractions, so sums and averages come out the same in SQL, MongoDB and here. */
const sample = (i: number): number => ((i * 37) % 23) - 11 + (i % 4) * 0.25;

interface Context {
  store: TelemetryStore;
  devices: string[];
}

export function telemetryStoreContract(
  name: string,
  make: () => Promise<TelemetryStore>,
  cleanup?: () => Promise<void>,
): void {
  const test = suite<Context>(`telemetry store contract: ${name}`);

  /** A new device for one test, removed again in `after`. */
  const device = (ctx: Context): string => {
    const id = randomUUID();
    ctx.devices.push(id);
    return id;
  };

  let sequence = 0;
  const message = (deviceId: string, points: TelemetryMessage['points'], messageId?: string): TelemetryMessage => ({
    messageId: messageId ?? `contract-${randomUUID()}-${sequence++}`,
    deviceId,
    points,
  });

  test.before(async (ctx) => {
    ctx.devices = [];
    ctx.store = await make();
    await ctx.store.prepare({ retentionDays: 30, rollupRetentionDays: 400 });
    // Idempotent: every instance prepares at start.
    await ctx.store.prepare({ retentionDays: 30, rollupRetentionDays: 400 });
  });

  test.after(async ({ store, devices }) => {
    if (store) {
      for (const id of devices) await store.deleteDevice(id);
      await store.close();
    }
    await cleanup?.();
  });

  test('ping resolves', async ({ store }) => {
    await store.ping();
  });

  test('writing nothing stores nothing', async ({ store }) => {
    assert.equal(await store.write([]), { written: 0, duplicates: 0 });
  });

  test('reads back numbers, booleans and strings of several keys', async (ctx) => {
    const d = device(ctx);
    const tricky = 'NULL, "quoted" \\ {braces} é ☃';
    const result = await ctx.store.write([
      message(d, [
        { ts: T0, values: { temp: 21.5, on: true, mode: 'eco' } },
        { ts: T0 + 1000, values: { temp: 0, on: false, mode: '' } },
        { ts: T0 + 2000, values: { temp: -3.75e10, mode: tricky, count: 7 } },
      ]),
    ]);
    assert.equal(result, { written: 1, duplicates: 0 });
    const values = await ctx.store.raw({ deviceId: d, from: T0, to: T0 + 10_000, order: 'asc', limit: 100 });
    assert.equal(values, [
      { key: 'mode', ts: T0, value: 'eco' },
      { key: 'on', ts: T0, value: true },
      { key: 'temp', ts: T0, value: 21.5 },
      { key: 'mode', ts: T0 + 1000, value: '' },
      { key: 'on', ts: T0 + 1000, value: false },
      { key: 'temp', ts: T0 + 1000, value: 0 },
      { key: 'count', ts: T0 + 2000, value: 7 },
      { key: 'mode', ts: T0 + 2000, value: tricky },
      { key: 'temp', ts: T0 + 2000, value: -3.75e10 },
    ]);
  });

  test('orders by time then key, ascending and descending; keys compare bytewise', async (ctx) => {
    const d = device(ctx);
    await ctx.store.write([
      message(d, [
        { ts: T0 + 5, values: { b: 1, B: 2, a: 3, _: 4 } },
        { ts: T0 + 1, values: { b: 5 } },
        { ts: T0 + 9, values: { a: 6 } },
      ]),
    ]);
    const asc = await ctx.store.raw({ deviceId: d, from: T0, to: T0 + 10, order: 'asc', limit: 10 });
    assert.equal(
      asc.map((v) => `${v.ts - T0}${v.key}`),
      ['1b', '5B', '5_', '5a', '5b', '9a'],
    );
    const desc = await ctx.store.raw({ deviceId: d, from: T0, to: T0 + 10, order: 'desc', limit: 10 });
    assert.equal(desc, [...asc].reverse());
  });

  test('keyset pagination reaches the end without repeats or gaps, in both orders', async (ctx) => {
    const d = device(ctx);
    const keys = ['k1', 'k2', 'k3', 'k4', 'k5'];
    // 50 times × 5 keys = 250 values; pages of 37 end in the middle of a time's keys.
    const points = Array.from({ length: 50 }, (_, i) => ({
      ts: T0 + i * 1000,
      values: Object.fromEntries(keys.map((k, j) => [k, i * 10 + j])),
    }));
    await ctx.store.write([message(d, points)]);
    const expected = points.flatMap((p) => keys.map((k) => ({ key: k, ts: p.ts, value: p.values[k]! })));

    for (const order of ['asc', 'desc'] as const) {
      const seen: StoredValue[] = [];
      let after: { ts: number; key: string } | undefined;
      for (let page = 0; page < 20; page++) {
        const values = await ctx.store.raw({ deviceId: d, from: T0, to: T0 + HOUR, order, limit: 37, after });
        seen.push(...values);
        if (values.length < 37) break;
        const last = values[values.length - 1]!;
        after = { ts: last.ts, key: last.key };
      }
      assert.is(seen.length, 250, order);
      assert.equal(seen, order === 'asc' ? expected : [...expected].reverse(), order);
    }
  });

  test('filters by keys and by [from, to)', async (ctx) => {
    const d = device(ctx);
    const from = T0 + 10_000;
    const to = T0 + 20_000;
    await ctx.store.write([
      message(
        d,
        [from - 1, from, to - 1, to].map((ts) => ({ ts, values: { a: ts - T0, b: true, c: 'x' } })),
      ),
    ]);
    const inRange = await ctx.store.raw({ deviceId: d, from, to, order: 'asc', limit: 100 });
    assert.equal(
      inRange.map((v) => `${v.key}@${v.ts - T0}`),
      ['a@10000', 'b@10000', 'c@10000', 'a@19999', 'b@19999', 'c@19999'],
    );
    const someKeys = await ctx.store.raw({ deviceId: d, keys: ['a', 'c'], from, to, order: 'desc', limit: 100 });
    assert.equal(
      someKeys.map((v) => `${v.key}@${v.ts - T0}`),
      ['c@19999', 'a@19999', 'c@10000', 'a@10000'],
    );
    const noKeys = await ctx.store.raw({ deviceId: d, keys: [], from, to, order: 'asc', limit: 100 });
    assert.is(noKeys.length, 6, 'an empty key list means all keys');
    const limited = await ctx.store.raw({ deviceId: d, from: T0, to: T0 + HOUR, order: 'asc', limit: 2 });
    assert.equal(limited.map((v) => v.key), ['a', 'b']);
    const otherDevice = await ctx.store.raw({ deviceId: randomUUID(), from: T0, to: T0 + HOUR, order: 'asc', limit: 10 });
    assert.equal(otherDevice, []);
  });

  test('a message written twice is stored once', async (ctx) => {
    const d = device(ctx);
    const once = message(d, [{ ts: T0, values: { a: 1, b: 'one' } }]);
    assert.equal(await ctx.store.write([once]), { written: 1, duplicates: 0 });
    // A redelivery carrying other values (it cannot, but it shows the second copy is not looked at).
    const again = { ...once, points: [{ ts: T0, values: { a: 2 } }, { ts: T0 + 1, values: { a: 3 } }] };
    assert.equal(await ctx.store.write([again]), { written: 0, duplicates: 1 });
    const fresh = message(d, [{ ts: T0 + 2, values: { a: 4 } }]);
    assert.equal(await ctx.store.write([once, fresh, fresh]), { written: 1, duplicates: 2 });
    const values = await ctx.store.raw({ deviceId: d, from: T0, to: T0 + 10, order: 'asc', limit: 10 });
    assert.equal(values, [
      { key: 'a', ts: T0, value: 1 },
      { key: 'b', ts: T0, value: 'one' },
      { key: 'a', ts: T0 + 2, value: 4 },
    ]);
  });

  test('the same device, key and time written again: the last write wins, even of another type', async (ctx) => {
    const d = device(ctx);
    await ctx.store.write([message(d, [{ ts: T0, values: { a: 1, b: 1 } }])]);
    await ctx.store.write([message(d, [{ ts: T0, values: { a: 2 } }])]);
    await ctx.store.write([message(d, [{ ts: T0, values: { b: 'text' } }])]);
    // Within one call, and within one message, the later one wins too.
    await ctx.store.write([
      message(d, [{ ts: T0 + 1, values: { c: 1 } }]),
      message(d, [
        { ts: T0 + 1, values: { c: false } },
        { ts: T0 + 1, values: { c: 3 } },
      ]),
    ]);
    const values = await ctx.store.raw({ deviceId: d, from: T0, to: T0 + 10, order: 'asc', limit: 10 });
    assert.equal(values, [
      { key: 'a', ts: T0, value: 2 },
      { key: 'b', ts: T0, value: 'text' },
      { key: 'c', ts: T0 + 1, value: 3 },
    ]);
    assert.equal(await ctx.store.latest(d, ['c']), [{ key: 'c', ts: T0 + 1, value: 3 }]);
  });

  // 1-minute data over 3 hours: `temp` numeric, `state` never numeric, `mixed` numeric on even minutes only.
  const series = (d: string): { message: TelemetryMessage; values: StoredValue[] } => {
    const points = Array.from({ length: 180 }, (_, i) => ({
      ts: T0 + i * MINUTE,
      values: {
        temp: sample(i),
        state: i % 3 === 0 ? 'idle' : i % 2 === 0,
        mixed: i % 2 === 0 ? sample(i + 1) : `s${i}`,
      } as Record<string, TelemetryValue>,
    }));
    const values = points.flatMap((p) => Object.entries(p.values).map(([key, value]) => ({ key, ts: p.ts, value })));
    return { message: message(d, points), values };
  };

  /** The buckets as the port defines them, computed here from the values written. */
  const expectedBuckets = (
    values: StoredValue[],
    intervalMs: number,
    agg: Aggregation,
    from: number,
    to: number,
  ): Bucket[] => {
    const groups = new Map<string, { key: string; ts: number; all: TelemetryValue[] }>();
    for (const v of values) {
      if (v.ts < from || v.ts >= to) continue;
      const ts = Math.floor(v.ts / intervalMs) * intervalMs;
      const id = `${v.key}@${ts}`;
      if (!groups.has(id)) groups.set(id, { key: v.key, ts, all: [] });
      groups.get(id)!.all.push(v.value);
    }
    return [...groups.values()]
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.ts - b.ts))
      .map(({ key, ts, all }) => {
        const numbers = all.filter((x): x is number => typeof x === 'number');
        const sum = numbers.reduce((s, x) => s + x, 0);
        const value =
          agg === 'count'
            ? all.length
            : numbers.length === 0
              ? null
              : { avg: sum / numbers.length, min: Math.min(...numbers), max: Math.max(...numbers), sum }[agg];
        return { key, ts, value, count: all.length };
      });
  };

  const assertBuckets = (actual: Bucket[], expected: Bucket[], label: string): void => {
    assert.equal(
      actual.map((b) => `${b.key}@${b.ts}#${b.count}`),
      expected.map((b) => `${b.key}@${b.ts}#${b.count}`),
      `${label}: buckets`,
    );
    actual.forEach((b, i) => {
      const want = expected[i]!.value;
      if (want === null || b.value === null) assert.is(b.value, want, `${label}: ${b.key}@${b.ts}`);
      else assert.ok(Math.abs(b.value - want) < 1e-9, `${label}: ${b.key}@${b.ts} is ${b.value}, expected ${want}`);
    });
  };

  test('aggregates avg/min/max/sum over numbers and count over all values, in epoch-aligned buckets', async (ctx) => {
    const d = device(ctx);
    const { message: m, values } = series(d);
    await ctx.store.write([m]);
    const from = T0;
    const to = T0 + 180 * MINUTE;
    for (const intervalMs of [HOUR, 30 * MINUTE, 7 * MINUTE, DAY]) {
      for (const agg of ['avg', 'min', 'max', 'sum', 'count'] as const) {
        const label = `${agg} per ${intervalMs / MINUTE} min`;
        const buckets = await ctx.store.aggregate({ deviceId: d, from, to, intervalMs, agg });
        assertBuckets(buckets, expectedBuckets(values, intervalMs, agg, from, to), label);
        for (const b of buckets) assert.is(b.ts % intervalMs, 0, `${label}: ${b.ts} is not on the interval`);
      }
    }
    // The 1-hour buckets start at 10:00, before the first value (10:17), and the numbers are as computed.
    const hourly = await ctx.store.aggregate({ deviceId: d, keys: ['temp', 'state'], from, to, intervalMs: HOUR, agg: 'avg' });
    const ten = T0 - 17 * MINUTE;
    assert.equal(hourly.map((b) => `${b.key} +${(b.ts - ten) / HOUR}h ${b.count}`), [
      'state +0h 43',
      'state +1h 60',
      'state +2h 60',
      'state +3h 17',
      'temp +0h 43',
      'temp +1h 60',
      'temp +2h 60',
      'temp +3h 17',
    ]);
    assert.ok(hourly.filter((b) => b.key === 'state').every((b) => b.value === null), 'no numbers, no value');
  });

  test('aggregates only [from, to), buckets cut by the range keep their epoch-aligned start', async (ctx) => {
    const d = device(ctx);
    const { message: m, values } = series(d);
    await ctx.store.write([m]);
    const from = T0 + 25 * MINUTE;
    const to = T0 + 95 * MINUTE;
    for (const agg of ['sum', 'count'] as const) {
      const buckets = await ctx.store.aggregate({ deviceId: d, keys: ['mixed'], from, to, intervalMs: 30 * MINUTE, agg });
      assertBuckets(buckets, expectedBuckets(values.filter((v) => v.key === 'mixed'), 30 * MINUTE, agg, from, to), agg);
    }
    assert.equal(await ctx.store.aggregate({ deviceId: d, from: T0 - HOUR, to: T0, intervalMs: HOUR, agg: 'avg' }), []);
  });

  test('aggregates from rollups give what the points give: random data with late, rewritten, redelivered and deleted points', async (ctx) => {
    const d = device(ctx);
    // A new seed each run, printed with every assertion, so a failure can be replayed.
    const seed = Date.now() % 1_000_000;
    const random = mulberry32(seed);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const keys = ['a', 'b', 'c', 'd'] as const;
    // Quarters, so every sum is exact in binary floating point; a few booleans and strings, so rewrites change types.
    const value = (): TelemetryValue => {
      const r = random();
      return r < 0.1 ? r < 0.05 : r < 0.18 ? `s${Math.floor(r * 100)}` : Math.round((random() - 0.5) * 4000) / 4;
    };
    // Times drawn from 3,000 slots over five hours, in no order: many land on a slot written before (a rewrite)
    // or before points already stored (late).
    const slot = (): number => T0 + Math.floor(random() * 3000) * 6_000 + (random() < 0.3 ? 1 : 0);
    const model = new Map<string, StoredValue>();
    const sent: TelemetryMessage[] = [];
    for (let call = 0; call < 6; call += 1) {
      const messages = Array.from({ length: 8 }, () => {
        const points = Array.from({ length: 60 }, () => ({
          ts: slot(),
          values: Object.fromEntries(keys.filter(() => random() < 0.6).map((k) => [k, value()])),
        }));
        return message(d, points);
      });
      // A redelivery of something stored before changes nothing, even where newer values replaced it since.
      const redelivered = sent.length > 0 ? [pick(sent), pick(sent)] : [];
      await ctx.store.write([...messages, ...redelivered]);
      for (const m of messages) {
        for (const p of m.points) for (const [key, v] of Object.entries(p.values)) model.set(`${key}@${p.ts}`, { key, ts: p.ts, value: v });
      }
      sent.push(...messages);
    }
    const removed = (keysRemoved: readonly string[] | undefined, from: number, to: number) => {
      for (const [id, v] of model) if (v.ts >= from && v.ts < to && (!keysRemoved || keysRemoved.includes(v.key))) model.delete(id);
    };
    await ctx.store.deleteRange({ deviceId: d, keys: ['b'], from: T0 + HOUR + 7_000, to: T0 + 2 * HOUR + 13_000 });
    removed(['b'], T0 + HOUR + 7_000, T0 + 2 * HOUR + 13_000);
    await ctx.store.deleteRange({ deviceId: d, from: T0 + 210 * MINUTE, to: T0 + 211 * MINUTE + 500 });
    removed(undefined, T0 + 210 * MINUTE, T0 + 211 * MINUTE + 500);

    const values = [...model.values()];
    const ranges = [
      [T0 - HOUR, T0 + 6 * HOUR],
      [T0 + 13 * MINUTE + 7_000, T0 + 4 * HOUR + 59_000],
      [T0 + 61 * MINUTE, T0 + 62 * MINUTE],
    ] as const;
    for (const [from, to] of ranges) {
      for (const intervalMs of [MINUTE, 5 * MINUTE, HOUR, 3 * HOUR, DAY, 90_000]) {
        for (const agg of ['avg', 'min', 'max', 'sum', 'count'] as const) {
          const only = intervalMs === 5 * MINUTE ? ['a', 'c'] : undefined;
          const label = `seed ${seed}: ${agg} per ${intervalMs / 1000} s over [${from - T0}, ${to - T0})${only ? ' of a, c' : ''}`;
          const buckets = await ctx.store.aggregate({ deviceId: d, keys: only, from, to, intervalMs, agg });
          const expected = expectedBuckets(only ? values.filter((v) => only.includes(v.key)) : values, intervalMs, agg, from, to);
          assertBuckets(buckets, expected, label);
        }
      }
    }
  });

  test('a point older than the retention when it arrives counts in the rollups only', async (ctx) => {
    const d = device(ctx);
    // Forty days back: past the points' 30 days, within the rollups' 400.
    const old = Math.floor(Date.now() / HOUR) * HOUR - 40 * DAY + 5 * MINUTE;
    await ctx.store.write([message(d, [{ ts: old, values: { a: 2 } }, { ts: old + MINUTE, values: { a: 3, b: 'x' } }, { ts: T0, values: { a: 1 } }])]);
    assert.equal(await ctx.store.raw({ deviceId: d, from: old - DAY, to: old + DAY, order: 'asc', limit: 10 }), []);
    const hourly = await ctx.store.aggregate({ deviceId: d, from: old - DAY, to: old + DAY, intervalMs: HOUR, agg: 'sum' });
    assert.equal(hourly, [
      { key: 'a', ts: old - 5 * MINUTE, value: 5, count: 2 },
      { key: 'b', ts: old - 5 * MINUTE, value: null, count: 1 },
    ]);
    // Beyond the rollups' retention nothing is kept at all.
    await ctx.store.write([message(d, [{ ts: old - 400 * DAY, values: { a: 7 } }])]);
    assert.equal(await ctx.store.aggregate({ deviceId: d, from: old - 401 * DAY, to: old - 399 * DAY, intervalMs: HOUR, agg: 'count' }), []);
  });

  test('refuses bucket widths that are not positive whole milliseconds; a limit of 0 reads nothing', async (ctx) => {
    const d = device(ctx);
    await ctx.store.write([message(d, [{ ts: T0, values: { a: 1 } }])]);
    for (const intervalMs of [0, -MINUTE, 1.5, Number.NaN]) {
      let error: unknown;
      await ctx.store.aggregate({ deviceId: d, from: T0, to: T0 + HOUR, intervalMs, agg: 'avg' }).catch((e: unknown) => (error = e));
      assert.instance(error, RangeError, String(intervalMs));
    }
    assert.equal(await ctx.store.raw({ deviceId: d, from: T0, to: T0 + HOUR, order: 'asc', limit: 0 }), []);
  });

  test('latest gives the newest value of each key', async (ctx) => {
    const d = device(ctx);
    await ctx.store.write([
      message(d, [
        { ts: T0 + 3000, values: { a: 3, c: 'late' } },
        { ts: T0 + 1000, values: { a: 1, b: true, c: 'early' } },
      ]),
      message(d, [{ ts: T0 + 2000, values: { b: false, a: 2 } }]),
    ]);
    assert.equal(await ctx.store.latest(d), [
      { key: 'a', ts: T0 + 3000, value: 3 },
      { key: 'b', ts: T0 + 2000, value: false },
      { key: 'c', ts: T0 + 3000, value: 'late' },
    ]);
    assert.equal(await ctx.store.latest(d, ['b', 'missing']), [{ key: 'b', ts: T0 + 2000, value: false }]);
    assert.equal(await ctx.store.latest(randomUUID()), []);
  });

  test('deleteRange removes the given keys in [from, to), or everything of the device in range', async (ctx) => {
    const d = device(ctx);
    const other = device(ctx);
    const points = Array.from({ length: 10 }, (_, i) => ({ ts: T0 + i * 1000, values: { a: i, b: i, c: i } }));
    await ctx.store.write([message(d, points), message(other, points)]);

    assert.is(await ctx.store.deleteRange({ deviceId: d, keys: ['a', 'b'], from: T0 + 2000, to: T0 + 5000 }), 6);
    const left = await ctx.store.raw({ deviceId: d, from: T0, to: T0 + HOUR, order: 'asc', limit: 100 });
    assert.is(left.length, 24);
    assert.not.ok(left.some((v) => v.key !== 'c' && v.ts >= T0 + 2000 && v.ts < T0 + 5000));

    assert.is(await ctx.store.deleteRange({ deviceId: d, from: T0 + 8000 }), 6);
    assert.is(await ctx.store.deleteRange({ deviceId: d, keys: ['c'], to: T0 + 1000 }), 1);
    const rest = await ctx.store.raw({ deviceId: d, from: T0, to: T0 + HOUR, order: 'asc', limit: 100 });
    assert.is(rest.length, 17);
    assert.is(await ctx.store.deleteRange({ deviceId: d }), 17);
    assert.equal(await ctx.store.latest(d), []);

    const untouched = await ctx.store.raw({ deviceId: other, from: T0, to: T0 + HOUR, order: 'asc', limit: 100 });
    assert.is(untouched.length, 30, 'another device keeps its values');
  });

  test('deleteDevice removes the device and what it remembered of its messages', async (ctx) => {
    const d = device(ctx);
    const other = device(ctx);
    const m = message(d, [{ ts: T0, values: { a: 1 } }]);
    await ctx.store.write([m, message(other, [{ ts: T0, values: { a: 1 } }])]);
    await ctx.store.deleteDevice(d);
    assert.equal(await ctx.store.raw({ deviceId: d, from: 0, to: T0 + HOUR, order: 'asc', limit: 10 }), []);
    assert.equal(await ctx.store.latest(d), []);
    assert.equal(await ctx.store.latest(other), [{ key: 'a', ts: T0, value: 1 }]);
    // Its message marker went with it: the same message is new again.
    assert.equal(await ctx.store.write([m]), { written: 1, duplicates: 0 });
    await ctx.store.deleteDevice(randomUUID()); // a device with nothing stored is fine
  });

  test('expire removes whole days older than the cutoff (or leaves it to TTL)', async (ctx) => {
    const d = device(ctx);
    const ttl = ctx.store.kind === 'mongodb';
    // Twenty days back: inside the retention, and older than any other test's data, since PostgreSQL's expire
    // drops whole days of every device. TTL would not remove these.
    const start = Math.floor(Date.now() / DAY) * DAY - 20 * DAY;
    await ctx.store.write([message(d, [0, 1, 2, 3].map((i) => ({ ts: start + i * DAY + 5 * HOUR, values: { a: i } })))]);
    // The cutoff falls inside the third day, which is kept whole until all of it is past.
    const removed = await ctx.store.expire({ points: start + 2 * DAY + 6 * HOUR, rollups: Date.UTC(1990, 0, 1) });
    const left = await ctx.store.raw({ deviceId: d, from: start, to: start + 10 * DAY, order: 'asc', limit: 10 });
    if (ttl) {
      assert.is(removed, 0, 'MongoDB expires through TTL, so expire does nothing');
      assert.equal(left.map((v) => v.value), [0, 1, 2, 3]);
    } else {
      // An estimate over every device's dropped days, and a concurrent run on the same server may have dropped these first.
      assert.ok(Number.isInteger(removed) && removed >= 0, `removed ${removed}`);
      assert.equal(left.map((v) => v.value), [2, 3]);
    }
    // The rollups outlive the points: the days' hourly buckets are all still there.
    const hourly = await ctx.store.aggregate({ deviceId: d, from: start, to: start + 4 * DAY, intervalMs: HOUR, agg: 'sum' });
    assert.equal(hourly.map((b) => [b.ts - start, b.value]), [0, 1, 2, 3].map((i) => [i * DAY + 5 * HOUR, i]));
  });

  test('writes 10,000 points in one call', async (ctx) => {
    const d = device(ctx);
    const messages = Array.from({ length: 100 }, (_, m) =>
      message(d, Array.from({ length: 20 }, (_, p) => {
        const i = m * 20 + p;
        return { ts: T0 + i * 1000, values: { a: i, b: i % 2 === 0, c: `v${i}`, d: -i, e: i / 4 } };
      })),
    );
    assert.equal(await ctx.store.write(messages), { written: 100, duplicates: 0 });
    const counts = await ctx.store.aggregate({ deviceId: d, from: T0, to: T0 + 2000 * 1000, intervalMs: DAY, agg: 'count' });
    assert.equal(counts.map((b) => `${b.key}:${b.count}`), ['a:2000', 'b:2000', 'c:2000', 'd:2000', 'e:2000']);
    assert.equal(await ctx.store.latest(d, ['c']), [{ key: 'c', ts: T0 + 1999 * 1000, value: 'v1999' }]);
  });

  test.run();
}

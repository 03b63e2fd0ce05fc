/**
 * Unit tests of what the MongoDB telemetry adapter sends (shared/adapters/telemetry/mongo-queries.ts).
 * No MongoDB server runs here, so these exact structures stand for the adapter; the contract suite runs
 * it for real only where MONGO_URL is set.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DATE_TRUNC_REFERENCE_MS,
  aggregatePipeline,
  bucket,
  bucketStart,
  deleteRangeFilter,
  deviceMarkersFilter,
  devicePointsFilter,
  latestPipeline,
  latestValue,
  markerDocuments,
  markerIndexes,
  markerLookup,
  markersCollection,
  combinePartials,
  defaultCollection,
  legacyCopyPipeline,
  onlyDuplicateKeys,
  partialsOf,
  partialsPipeline,
  pointDocuments,
  pointIndexes,
  pointUpserts,
  rawFind,
  rebuildPipeline,
  rebuildWrites,
  rollupAllPipeline,
  rollupCollection,
  rollupIndexes,
  rollupLevels,
  rollupMerges,
  ttlCommand,
  retentionSeconds,
  storedValue,
  uniqueMessages,
} from '../shared/adapters/telemetry/mongo-queries.ts';
import type { TelemetryMessage } from '../shared/ports/telemetry-store.ts';

const D = '6f1c2b9e-0d4a-4c3e-9b7a-2f5e8d1c0a11';
const T = Date.UTC(2024, 2, 10, 10, 17, 0);
const at = (ms: number) => new Date(ms);
/** `$v` when it is a number, else null: what $sum/$min/$max of values take. */
const numeric = { $cond: [{ $isNumber: '$v' }, '$v', null] };
/** What a bucket sums up from points: every value counted, the numbers summed, their minimum and maximum. */
const pointSums = {
  count: { $sum: 1 },
  numCount: { $sum: { $cond: [{ $isNumber: '$v' }, 1, 0] } },
  sum: { $sum: numeric },
  min: { $min: numeric },
  max: { $max: numeric },
};

const setup = suite('mongo queries: collections and indexes');

setup('retention days become whole TTL seconds; nonsense is refused', () => {
  assert.is(retentionSeconds(30), 2_592_000);
  assert.is(retentionSeconds(1), 86_400);
  assert.is(retentionSeconds(0.5), 43_200);
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 1e-9]) {
    assert.throws(() => retentionSeconds(bad), /retentionDays must be a positive number/, String(bad));
  }
});

setup('indexes: unique device+key+ts, device+ts and a TTL on points; unique device+key+bucket and a TTL on rollups; TTL and device on markers', () => {
  assert.equal(pointIndexes(30), [
    { key: { d: 1, k: 1, ts: 1 }, name: 'device_key_ts', unique: true },
    { key: { d: 1, ts: 1 }, name: 'device_ts' },
    { key: { ts: 1 }, name: 'ts_ttl', expireAfterSeconds: 2_592_000 },
  ]);
  assert.equal(rollupIndexes(400), [
    { key: { d: 1, k: 1, b: 1 }, name: 'device_key_bucket', unique: true },
    { key: { b: 1 }, name: 'b_ttl', expireAfterSeconds: 34_560_000 },
  ]);
  assert.equal(markerIndexes(30), [
    { key: { at: 1 }, name: 'stored_at_ttl', expireAfterSeconds: 2_592_000 },
    { key: { d: 1 }, name: 'device' },
  ]);
  // A TTL index whose expiry changed is changed in place.
  assert.equal(ttlCommand('telemetry_points_messages', 'markers', 2), {
    collMod: 'telemetry_points_messages',
    index: { name: 'stored_at_ttl', expireAfterSeconds: 172_800 },
  });
  assert.equal(ttlCommand('telemetry_points', 'points', 7).index, { name: 'ts_ttl', expireAfterSeconds: 604_800 });
  assert.equal(ttlCommand('telemetry_points_rollup_1h', 'rollups', 7).index, { name: 'b_ttl', expireAfterSeconds: 604_800 });
  assert.is(defaultCollection, 'telemetry_points');
  assert.is(markersCollection(defaultCollection), 'telemetry_points_messages');
  assert.equal(rollupLevels.map((level) => rollupCollection(defaultCollection, level)), ['telemetry_points_rollup_1m', 'telemetry_points_rollup_1h']);
});

setup('the time-series collection of before is copied once by device, key and time, and rolled up', () => {
  assert.equal(legacyCopyPipeline('telemetry_points'), [
    { $project: { _id: 0, d: '$meta.d', k: '$meta.k', ts: 1, v: 1 } },
    { $merge: { into: 'telemetry_points', on: ['d', 'k', 'ts'], whenMatched: 'replace', whenNotMatched: 'insert' } },
  ]);
  const [minutes, hours] = rollupLevels;
  assert.equal(rollupAllPipeline(minutes, 'r1m'), [
    {
      $group: {
        _id: { d: '$d', k: '$k', b: { $dateTrunc: { date: '$ts', unit: 'minute', binSize: 1 } } },
        ...pointSums,
      },
    },
    { $project: { _id: 0, d: '$_id.d', k: '$_id.k', b: '$_id.b', count: 1, numCount: 1, sum: 1, min: 1, max: 1 } },
    { $merge: { into: 'r1m', on: ['d', 'k', 'b'], whenMatched: 'replace', whenNotMatched: 'insert' } },
  ]);
  assert.equal((rollupAllPipeline(hours, 'r1h')[0] as { $group: unknown }).$group, {
    _id: { d: '$d', k: '$k', b: { $dateTrunc: { date: '$b', unit: 'hour', binSize: 1 } } },
    count: { $sum: '$count' },
    numCount: { $sum: '$numCount' },
    sum: { $sum: '$sum' },
    min: { $min: '$min' },
    max: { $max: '$max' },
  });
});

setup.run();

const writes = suite('mongo queries: writes');

const m = (messageId: string, points: TelemetryMessage['points'], deviceId = D): TelemetryMessage => ({
  messageId,
  deviceId,
  points,
});

writes('one document per value, with the device, the key, a Date ts and the value as given', () => {
  const docs = pointDocuments([
    m('m1', [
      { ts: T, values: { temp: 21.5, on: true, mode: 'eco' } },
      { ts: T + 1000, values: { temp: 0, on: false, mode: '' } },
    ]),
  ]);
  assert.equal(docs, [
    { d: D, k: 'temp', ts: at(T), v: 21.5},
    { d: D, k: 'on', ts: at(T), v: true},
    { d: D, k: 'mode', ts: at(T), v: 'eco'},
    { d: D, k: 'temp', ts: at(T + 1000), v: 0},
    { d: D, k: 'on', ts: at(T + 1000), v: false},
    { d: D, k: 'mode', ts: at(T + 1000), v: ''},
  ]);
  assert.instance(docs[0]!.ts, Date);
});

writes('the same device, key and time twice in a call: one document, the later value', () => {
  const docs = pointDocuments([
    m('m1', [{ ts: T, values: { a: 1, b: 1 } }]),
    m('m2', [{ ts: T, values: { a: 'two' } }, { ts: T, values: { a: 3 } }]),
    m('m3', [{ ts: T, values: { a: 9 } }], 'another-device'),
  ]);
  assert.equal(docs, [
    { d: D, k: 'b', ts: at(T), v: 1},
    { d: D, k: 'a', ts: at(T), v: 3},
    { d: 'another-device', k: 'a', ts: at(T), v: 9},
  ]);
});

writes('values other than numbers, booleans and strings are refused', () => {
  const bad = m('m1', [{ ts: T, values: { a: null as unknown as number } }]);
  assert.throws(() => pointDocuments([bad]), /value of a must be a number, boolean or string/);
});

writes('repeated message ids in a call keep the first; markers and their lookup', () => {
  const first = m('m1', [{ ts: T, values: { a: 1 } }]);
  const unique = uniqueMessages([first, m('m2', []), m('m1', [{ ts: T, values: { a: 2 } }])]);
  assert.equal(unique.map((x) => x.messageId), ['m1', 'm2']);
  assert.is(unique[0], first);
  assert.equal(markerLookup(['m1', 'm2']), { _id: { $in: ['m1', 'm2'] } });
  const now = new Date();
  assert.equal(markerDocuments(unique, now), [
    { _id: 'm1', d: D, at: now },
    { _id: 'm2', d: D, at: now },
  ]);
});

writes('points are upserted on device, key and time: last write wins in place, no delete', () => {
  const docs = pointDocuments([m('m1', [{ ts: T, values: { a: 1, b: 'x' } }])]);
  assert.equal(pointUpserts(docs), [
    { updateOne: { filter: { d: D, k: 'a', ts: at(T) }, update: { $set: { v: 1 } }, upsert: true } },
    { updateOne: { filter: { d: D, k: 'b', ts: at(T) }, update: { $set: { v: 'x' } }, upsert: true } },
  ]);
});

writes('new points merge into each level: counts and sums added, min/max widened, sorted; no numbers, no sum', () => {
  const docs = pointDocuments([
    m('m1', [
      { ts: T + 61_000, values: { a: 4, s: 'x' } },
      { ts: T + 1_000, values: { a: -2.5 } },
      { ts: T + 2_000, values: { a: 7 } },
    ]),
  ]);
  const [minutes, hours] = rollupLevels;
  assert.equal(rollupMerges(docs, minutes), [
    { updateOne: { filter: { d: D, k: 'a', b: at(T) }, update: { $inc: { count: 2, numCount: 2, sum: 4.5 }, $min: { min: -2.5 }, $max: { max: 7 } }, upsert: true } },
    { updateOne: { filter: { d: D, k: 'a', b: at(T + 60_000) }, update: { $inc: { count: 1, numCount: 1, sum: 4 }, $min: { min: 4 }, $max: { max: 4 } }, upsert: true } },
    { updateOne: { filter: { d: D, k: 's', b: at(T + 60_000) }, update: { $inc: { count: 1, numCount: 0 } }, upsert: true } },
  ]);
  // T is 10:17, so every point is in the 10:00 hour.
  assert.equal(rollupMerges(docs, hours), [
    { updateOne: { filter: { d: D, k: 'a', b: at(T - 17 * 60_000) }, update: { $inc: { count: 3, numCount: 3, sum: 8.5 }, $min: { min: -2.5 }, $max: { max: 7 } }, upsert: true } },
    { updateOne: { filter: { d: D, k: 's', b: at(T - 17 * 60_000) }, update: { $inc: { count: 1, numCount: 0 } }, upsert: true } },
  ]);
});

writes('a rebuild sums the cells up from their source and replaces each, or deletes it when its source is empty', () => {
  const [minutes, hours] = rollupLevels;
  const cells = [{ deviceId: D, key: 'a', bucket: T }, { deviceId: D, key: 'b', bucket: T }];
  assert.equal(rebuildPipeline(minutes, cells.slice(0, 1)), [
    { $match: { d: D, k: 'a', ts: { $gte: at(T), $lt: at(T + 60_000) } } },
    {
      $group: {
        _id: { d: '$d', k: '$k', b: { $dateTrunc: { date: '$ts', unit: 'minute', binSize: 1 } } },
        ...pointSums,
      },
    },
  ]);
  const hour = T - 17 * 60_000;
  assert.equal(rebuildPipeline(hours, [{ deviceId: D, key: 'a', bucket: hour }, { deviceId: D, key: 'b', bucket: hour }])[0], {
    $match: {
      $or: [
        { d: D, k: 'a', b: { $gte: at(hour), $lt: at(hour + 3_600_000) } },
        { d: D, k: 'b', b: { $gte: at(hour), $lt: at(hour + 3_600_000) } },
      ],
    },
  });
  const found = [{ _id: { d: D, k: 'a', b: at(T) }, count: 2, numCount: 1, sum: 3, min: 3, max: 3 }];
  assert.equal(rebuildWrites([...cells, cells[0]!], found), [
    { replaceOne: { filter: { d: D, k: 'a', b: at(T) }, replacement: { d: D, k: 'a', b: at(T), count: 2, numCount: 1, sum: 3, min: 3, max: 3 }, upsert: true } },
    { deleteOne: { filter: { d: D, k: 'b', b: at(T) } } },
  ]);
  const words = [{ _id: { d: D, k: 'a', b: at(T) }, count: 2, numCount: 0, sum: 0, min: null, max: null }];
  assert.equal(rebuildWrites(cells.slice(0, 1), words), [
    { replaceOne: { filter: { d: D, k: 'a', b: at(T) }, replacement: { d: D, k: 'a', b: at(T), count: 2, numCount: 0 }, upsert: true } },
  ]);
});

writes('only duplicate-key bulk errors without a write concern error are ignorable', () => {
  const bulk = (codes: number[], writeConcernError?: unknown) => ({
    writeErrors: codes.length === 1 ? { code: codes[0] } : codes.map((code) => ({ code })),
    result: { getWriteConcernError: () => writeConcernError },
  });
  assert.ok(onlyDuplicateKeys(bulk([11000])));
  assert.ok(onlyDuplicateKeys(bulk([11000, 11000])));
  assert.not.ok(onlyDuplicateKeys(bulk([11000, 121])));
  assert.not.ok(onlyDuplicateKeys(bulk([11000], { code: 64 })));
  assert.not.ok(onlyDuplicateKeys(new Error('network')));
  assert.not.ok(onlyDuplicateKeys(null));
  assert.not.ok(onlyDuplicateKeys({ writeErrors: [] }));
});

writes.run();

const reads = suite('mongo queries: reads');

const range = { deviceId: D, from: T, to: T + 3_600_000 };

reads('raw ascending without after', () => {
  assert.equal(rawFind({ ...range, order: 'asc', limit: 37 }), {
    filter: { d: D, ts: { $gte: at(T), $lt: at(T + 3_600_000) } },
    sort: { ts: 1, k: 1 },
    limit: 37,
    projection: { _id: 0, ts: 1, k: 1, v: 1 },
  });
});

reads('raw descending with keys, without after', () => {
  assert.equal(rawFind({ ...range, keys: ['a', 'b'], order: 'desc', limit: 10 }), {
    filter: { d: D, ts: { $gte: at(T), $lt: at(T + 3_600_000) }, k: { $in: ['a', 'b'] } },
    sort: { ts: -1, k: -1 },
    limit: 10,
    projection: { _id: 0, ts: 1, k: 1, v: 1 },
  });
  assert.equal(rawFind({ ...range, keys: [], order: 'desc', limit: 10 }).filter, {
    d: D,
    ts: { $gte: at(T), $lt: at(T + 3_600_000) },
  });
});

reads('raw ascending after a position: ts from after.ts, ties by key', () => {
  const { filter, sort } = rawFind({ ...range, order: 'asc', limit: 5, after: { ts: T + 60_000, key: 'k2' } });
  assert.equal(filter, {
    d: D,
    ts: { $gte: at(T + 60_000), $lt: at(T + 3_600_000) },
    $or: [{ ts: { $gt: at(T + 60_000) } }, { k: { $gt: 'k2' } }],
  });
  assert.equal(sort, { ts: 1, k: 1 });
});

reads('raw descending after a position: ts up to after.ts inclusive, ties by key', () => {
  const { filter, sort } = rawFind({ ...range, keys: ['k1'], order: 'desc', limit: 5, after: { ts: T + 60_000, key: 'k2' } });
  assert.equal(filter, {
    d: D,
    ts: { $gte: at(T), $lt: at(T + 60_001) },
    k: { $in: ['k1'] },
    $or: [{ ts: { $lt: at(T + 60_000) } }, { k: { $lt: 'k2' } }],
  });
  assert.equal(sort, { ts: -1, k: -1 });
});

reads('an after position outside the range keeps the range bounds', () => {
  const asc = rawFind({ ...range, order: 'asc', limit: 5, after: { ts: T - 5, key: 'a' } });
  assert.equal(asc.filter.ts, { $gte: at(T), $lt: at(T + 3_600_000) });
  const desc = rawFind({ ...range, order: 'desc', limit: 5, after: { ts: T + 7_200_000, key: 'a' } });
  assert.equal(desc.filter.ts, { $gte: at(T), $lt: at(T + 3_600_000) });
});

reads('documents read back become stored values and buckets with epoch ms', () => {
  assert.equal(storedValue({ ts: at(T), k: 'a', v: false }), { key: 'a', ts: T, value: false });
  assert.equal(latestValue({ _id: 'a', ts: at(T), v: 'x' }), { key: 'a', ts: T, value: 'x' });
  assert.equal(bucket({ key: 'a', ts: at(T), value: null, count: 3 }), { key: 'a', ts: T, value: null, count: 3 });
});

reads.run();

const buckets = suite('mongo queries: aggregation');

const arithmetic = (intervalMs: number) => ({
  $toDate: {
    $subtract: [
      { $toLong: '$ts' },
      { $mod: [{ $add: [{ $mod: [{ $toLong: '$ts' }, intervalMs] }, intervalMs] }, intervalMs] },
    ],
  },
});

buckets('$dateTrunc with the largest unit dividing the interval, when its bins line up with the epoch', () => {
  assert.equal(bucketStart(30_000), { $dateTrunc: { date: '$ts', unit: 'second', binSize: 30 } });
  assert.equal(bucketStart(5 * 60_000), { $dateTrunc: { date: '$ts', unit: 'minute', binSize: 5 } });
  assert.equal(bucketStart(90 * 60_000), { $dateTrunc: { date: '$ts', unit: 'minute', binSize: 90 } });
  assert.equal(bucketStart(3_600_000), { $dateTrunc: { date: '$ts', unit: 'hour', binSize: 1 } });
  assert.equal(bucketStart(6 * 3_600_000), { $dateTrunc: { date: '$ts', unit: 'hour', binSize: 6 } });
  assert.equal(bucketStart(86_400_000), { $dateTrunc: { date: '$ts', unit: 'day', binSize: 1 } });
});

buckets('intervals whose $dateTrunc bins would not line up with the epoch use arithmetic', () => {
  assert.is(DATE_TRUNC_REFERENCE_MS, 946_684_800_000);
  // 7 minutes: 946,684,800 s / 420 s is not whole, so bins from 2000-01-01 are 3 minutes off the epoch's.
  assert.is(DATE_TRUNC_REFERENCE_MS % (7 * 60_000), 180_000);
  assert.equal(bucketStart(7 * 60_000), arithmetic(420_000));
  // 2 days and a week: 10,957 days from the epoch to 2000 is odd and not a multiple of 7.
  assert.equal(bucketStart(2 * 86_400_000), arithmetic(172_800_000));
  assert.equal(bucketStart(7 * 86_400_000), arithmetic(604_800_000));
  // Not a whole number of seconds.
  assert.equal(bucketStart(500), arithmetic(500));
  assert.equal(bucketStart(1), arithmetic(1));
});

buckets('the arithmetic bucket floors, before the epoch too (a model of $mod with the sign of the dividend)', () => {
  // JS % and MongoDB $mod both take the dividend's sign.
  const start = (ts: number, i: number) => ts - (((ts % i) + i) % i);
  assert.is(start(7 * 60_000 + 5, 7 * 60_000), 7 * 60_000);
  assert.is(start(-5, 7 * 60_000), -7 * 60_000);
  assert.is(start(-7 * 60_000, 7 * 60_000), -7 * 60_000);
});

buckets('intervals that are not positive whole milliseconds are refused', () => {
  for (const bad of [0, -60_000, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => bucketStart(bad), /intervalMs must be a positive whole number/, String(bad));
    assert.throws(() => aggregatePipeline({ ...range, intervalMs: bad, agg: 'avg' }), /intervalMs/);
  }
});

buckets('avg/min/max/sum take numbers only and say null for a bucket without any', () => {
  for (const agg of ['avg', 'min', 'max', 'sum'] as const) {
    assert.equal(aggregatePipeline({ ...range, keys: ['temp'], intervalMs: 3_600_000, agg }), [
      { $match: { d: D, ts: { $gte: at(T), $lt: at(T + 3_600_000) }, k: { $in: ['temp'] } } },
      {
        $group: {
          _id: { k: '$k', t: { $dateTrunc: { date: '$ts', unit: 'hour', binSize: 1 } } },
          count: { $sum: 1 },
          value: { [`$${agg}`]: { $cond: [{ $isNumber: '$v' }, '$v', null] } },
          numeric: { $sum: { $cond: [{ $isNumber: '$v' }, 1, 0] } },
        },
      },
      { $sort: { '_id.k': 1, '_id.t': 1 } },
      {
        $project: {
          _id: 0,
          key: '$_id.k',
          ts: '$_id.t',
          value: { $cond: [{ $gt: ['$numeric', 0] }, '$value', null] },
          count: 1,
        },
      },
    ], agg);
  }
});

buckets('count counts every value, numeric or not', () => {
  assert.equal(aggregatePipeline({ ...range, intervalMs: 7 * 60_000, agg: 'count' }), [
    { $match: { d: D, ts: { $gte: at(T), $lt: at(T + 3_600_000) } } },
    { $group: { _id: { k: '$k', t: arithmetic(420_000) }, count: { $sum: 1 } } },
    { $sort: { '_id.k': 1, '_id.t': 1 } },
    { $project: { _id: 0, key: '$_id.k', ts: '$_id.t', value: '$count', count: 1 } },
  ]);
});

buckets('each interval the contract uses picks its bucket expression', () => {
  const group = (intervalMs: number) =>
    (aggregatePipeline({ ...range, intervalMs, agg: 'sum' })[1] as { $group: { _id: { t: unknown } } }).$group._id.t;
  assert.equal(group(30_000), { $dateTrunc: { date: '$ts', unit: 'second', binSize: 30 } });
  assert.equal(group(300_000), { $dateTrunc: { date: '$ts', unit: 'minute', binSize: 5 } });
  assert.equal(group(1_800_000), { $dateTrunc: { date: '$ts', unit: 'minute', binSize: 30 } });
  assert.equal(group(3_600_000), { $dateTrunc: { date: '$ts', unit: 'hour', binSize: 1 } });
  assert.equal(group(86_400_000), { $dateTrunc: { date: '$ts', unit: 'day', binSize: 1 } });
  assert.equal(group(420_000), arithmetic(420_000));
});

buckets.run();

const rollupReads = suite('mongo queries: aggregation from rollups');

rollupReads("partials of a level or of the points, grouped into the query's buckets", () => {
  const query = { ...range, keys: ['a'], intervalMs: 3_600_000, agg: 'avg' as const };
  assert.equal(partialsPipeline(query, rollupLevels[1], T, T + 7_200_000), [
    { $match: { d: D, b: { $gte: at(T), $lt: at(T + 7_200_000) }, k: { $in: ['a'] } } },
    {
      $group: {
        _id: { k: '$k', t: { $dateTrunc: { date: '$b', unit: 'hour', binSize: 1 } } },
        count: { $sum: '$count' },
        numCount: { $sum: '$numCount' },
        sum: { $sum: '$sum' },
        min: { $min: '$min' },
        max: { $max: '$max' },
      },
    },
  ]);
  assert.equal(partialsPipeline({ ...query, keys: undefined }, undefined, T, T + 1000), [
    { $match: { d: D, ts: { $gte: at(T), $lt: at(T + 1000) } } },
    {
      $group: {
        _id: { k: '$k', t: { $dateTrunc: { date: '$ts', unit: 'hour', binSize: 1 } } },
        ...pointSums,
      },
    },
  ]);
});

rollupReads('partials combined give what the points give, for every aggregation (random points, split at random)', () => {
  let seed = 7;
  const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
  const points = Array.from({ length: 500 }, () => ({
    ts: T + Math.floor(random() * 4 * 3_600_000),
    values: { [random() < 0.5 ? 'a' : 'b']: random() < 0.15 ? 'word' : Math.round(random() * 400 - 200) / 4 },
  }));
  const docs = pointDocuments([m('m1', points)]);
  const asPartials = (list: typeof docs) =>
    partialsOf(list, 3_600_000).map((p) => ({ _id: { k: p.key, t: at(p.ts) }, count: p.count, numCount: p.numCount, sum: p.sum, min: p.min, max: p.max }));
  for (const agg of ['avg', 'min', 'max', 'sum', 'count'] as const) {
    const cut = Math.floor(random() * docs.length);
    const whole = combinePartials(asPartials(docs), agg);
    assert.equal(combinePartials([...asPartials(docs.slice(0, cut)), ...asPartials(docs.slice(cut))], agg), whole, agg);
    // The whole, against the values themselves.
    for (const b of whole) {
      const values = docs.filter((doc) => doc.k === b.key && Math.floor(doc.ts.getTime() / 3_600_000) * 3_600_000 === b.ts).map((doc) => doc.v);
      const numbers = values.filter((v): v is number => typeof v === 'number');
      const total = numbers.reduce((x, y) => x + y, 0);
      const expected =
        agg === 'count' ? values.length : numbers.length === 0 ? null : agg === 'avg' ? total / numbers.length : agg === 'sum' ? total : Math[agg](...numbers);
      assert.is(b.value, expected, `${agg} ${b.key}@${b.ts}`);
      assert.is(b.count, values.length);
    }
  }
});

rollupReads.run();

const latestAndDeletes = suite('mongo queries: latest and deletes');

latestAndDeletes('latest: sort by device and key then newest first, $first per key, ordered by key', () => {
  const tail = [
    { $sort: { d: 1, k: 1, ts: -1 } },
    { $group: { _id: '$k', ts: { $first: '$ts' }, v: { $first: '$v' } } },
    { $sort: { _id: 1 } },
  ];
  assert.equal(latestPipeline(D), [{ $match: { d: D } }, ...tail]);
  assert.equal(latestPipeline(D, []), [{ $match: { d: D } }, ...tail]);
  assert.equal(latestPipeline(D, ['a', 'b']), [{ $match: { d: D, k: { $in: ['a', 'b'] } } }, ...tail]);
});

latestAndDeletes('deleteRange filters on device, keys and whichever bounds are given', () => {
  assert.equal(deleteRangeFilter({ deviceId: D }), { d: D });
  assert.equal(deleteRangeFilter({ deviceId: D, keys: [] }), { d: D });
  assert.equal(deleteRangeFilter({ deviceId: D, keys: ['a'], from: T, to: T + 1000 }), {
    d: D,
    k: { $in: ['a'] },
    ts: { $gte: at(T), $lt: at(T + 1000) },
  });
  assert.equal(deleteRangeFilter({ deviceId: D, from: T }), { d: D, ts: { $gte: at(T) } });
  assert.equal(deleteRangeFilter({ deviceId: D, to: T }), { d: D, ts: { $lt: at(T) } });
  // The same range over a rollup's bucket starts.
  assert.equal(deleteRangeFilter({ deviceId: D, keys: ['a'], from: T, to: T + 60_000 }, 'b'), {
    d: D,
    k: { $in: ['a'] },
    b: { $gte: at(T), $lt: at(T + 60_000) },
  });
});

latestAndDeletes('deleteDevice filters points and markers by d', () => {
  assert.equal(devicePointsFilter(D), { d: D });
  assert.equal(deviceMarkersFilter(D), { d: D });
});

latestAndDeletes.run();

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
  markerRetentionCommand,
  markersCollection,
  onlyDuplicateKeys,
  overwriteFilter,
  pointCollectionOptions,
  pointDocuments,
  pointIndexes,
  pointRetentionCommand,
  rawFind,
  retentionSeconds,
  storedValue,
  uniqueMessages,
} from '../shared/adapters/telemetry/mongo-queries.ts';
import type { TelemetryMessage } from '../shared/ports/telemetry-store.ts';

const D = '6f1c2b9e-0d4a-4c3e-9b7a-2f5e8d1c0a11';
const T = Date.UTC(2024, 2, 10, 10, 17, 0);
const at = (ms: number) => new Date(ms);

const setup = suite('mongo queries: collections and indexes');

setup('retention days become whole TTL seconds; nonsense is refused', () => {
  assert.is(retentionSeconds(30), 2_592_000);
  assert.is(retentionSeconds(1), 86_400);
  assert.is(retentionSeconds(0.5), 43_200);
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 1e-9]) {
    assert.throws(() => retentionSeconds(bad), /retentionDays must be a positive number/, String(bad));
  }
});

setup('the points collection is a time-series collection expiring by ts', () => {
  assert.equal(pointCollectionOptions(30), {
    timeseries: { timeField: 'ts', metaField: 'meta', granularity: 'seconds' },
    expireAfterSeconds: 2_592_000,
  });
  assert.equal(pointRetentionCommand('telemetry', 7), { collMod: 'telemetry', expireAfterSeconds: 604_800 });
});

setup('indexes: device+key+ts and device+ts on points; TTL and device on markers', () => {
  assert.equal(pointIndexes, [
    { key: { 'meta.d': 1, 'meta.k': 1, ts: 1 }, name: 'device_key_ts' },
    { key: { 'meta.d': 1, ts: 1 }, name: 'device_ts' },
  ]);
  assert.equal(markerIndexes(30), [
    { key: { at: 1 }, name: 'stored_at_ttl', expireAfterSeconds: 2_592_000 },
    { key: { d: 1 }, name: 'device' },
  ]);
  assert.equal(markerRetentionCommand('telemetry_messages', 2), {
    collMod: 'telemetry_messages',
    index: { name: 'stored_at_ttl', expireAfterSeconds: 172_800 },
  });
  assert.is(markersCollection('telemetry'), 'telemetry_messages');
});

setup.run();

const writes = suite('mongo queries: writes');

const m = (messageId: string, points: TelemetryMessage['points'], deviceId = D): TelemetryMessage => ({
  messageId,
  deviceId,
  points,
});

writes('one document per value, with a Date ts, the device and key as meta, and the value as given', () => {
  const docs = pointDocuments([
    m('m1', [
      { ts: T, values: { temp: 21.5, on: true, mode: 'eco' } },
      { ts: T + 1000, values: { temp: 0, on: false, mode: '' } },
    ]),
  ]);
  assert.equal(docs, [
    { ts: at(T), meta: { d: D, k: 'temp' }, v: 21.5 },
    { ts: at(T), meta: { d: D, k: 'on' }, v: true },
    { ts: at(T), meta: { d: D, k: 'mode' }, v: 'eco' },
    { ts: at(T + 1000), meta: { d: D, k: 'temp' }, v: 0 },
    { ts: at(T + 1000), meta: { d: D, k: 'on' }, v: false },
    { ts: at(T + 1000), meta: { d: D, k: 'mode' }, v: '' },
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
    { ts: at(T), meta: { d: D, k: 'b' }, v: 1 },
    { ts: at(T), meta: { d: D, k: 'a' }, v: 3 },
    { ts: at(T), meta: { d: 'another-device', k: 'a' }, v: 9 },
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

writes('overwrite filter: one clause per device and key, with the time range and exact times', () => {
  assert.is(overwriteFilter([]), undefined);
  assert.equal(overwriteFilter(pointDocuments([m('m1', [{ ts: T, values: { a: 1 } }])])), {
    'meta.d': D,
    'meta.k': 'a',
    ts: { $gte: at(T), $lte: at(T), $in: [at(T)] },
  });
  const docs = pointDocuments([
    m('m1', [
      { ts: T + 5000, values: { a: 1, b: 2 } },
      { ts: T, values: { a: 3 } },
    ]),
    m('m2', [{ ts: T + 1000, values: { a: 4 } }], 'dev-2'),
  ]);
  assert.equal(overwriteFilter(docs), {
    $or: [
      { 'meta.d': D, 'meta.k': 'a', ts: { $gte: at(T), $lte: at(T + 5000), $in: [at(T), at(T + 5000)] } },
      { 'meta.d': D, 'meta.k': 'b', ts: { $gte: at(T + 5000), $lte: at(T + 5000), $in: [at(T + 5000)] } },
      { 'meta.d': 'dev-2', 'meta.k': 'a', ts: { $gte: at(T + 1000), $lte: at(T + 1000), $in: [at(T + 1000)] } },
    ],
  });
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
    filter: { 'meta.d': D, ts: { $gte: at(T), $lt: at(T + 3_600_000) } },
    sort: { ts: 1, 'meta.k': 1 },
    limit: 37,
    projection: { _id: 0, ts: 1, 'meta.k': 1, v: 1 },
  });
});

reads('raw descending with keys, without after', () => {
  assert.equal(rawFind({ ...range, keys: ['a', 'b'], order: 'desc', limit: 10 }), {
    filter: { 'meta.d': D, ts: { $gte: at(T), $lt: at(T + 3_600_000) }, 'meta.k': { $in: ['a', 'b'] } },
    sort: { ts: -1, 'meta.k': -1 },
    limit: 10,
    projection: { _id: 0, ts: 1, 'meta.k': 1, v: 1 },
  });
  assert.equal(rawFind({ ...range, keys: [], order: 'desc', limit: 10 }).filter, {
    'meta.d': D,
    ts: { $gte: at(T), $lt: at(T + 3_600_000) },
  });
});

reads('raw ascending after a position: ts from after.ts, ties by key', () => {
  const { filter, sort } = rawFind({ ...range, order: 'asc', limit: 5, after: { ts: T + 60_000, key: 'k2' } });
  assert.equal(filter, {
    'meta.d': D,
    ts: { $gte: at(T + 60_000), $lt: at(T + 3_600_000) },
    $or: [{ ts: { $gt: at(T + 60_000) } }, { 'meta.k': { $gt: 'k2' } }],
  });
  assert.equal(sort, { ts: 1, 'meta.k': 1 });
});

reads('raw descending after a position: ts up to after.ts inclusive, ties by key', () => {
  const { filter, sort } = rawFind({ ...range, keys: ['k1'], order: 'desc', limit: 5, after: { ts: T + 60_000, key: 'k2' } });
  assert.equal(filter, {
    'meta.d': D,
    ts: { $gte: at(T), $lt: at(T + 60_001) },
    'meta.k': { $in: ['k1'] },
    $or: [{ ts: { $lt: at(T + 60_000) } }, { 'meta.k': { $lt: 'k2' } }],
  });
  assert.equal(sort, { ts: -1, 'meta.k': -1 });
});

reads('an after position outside the range keeps the range bounds', () => {
  const asc = rawFind({ ...range, order: 'asc', limit: 5, after: { ts: T - 5, key: 'a' } });
  assert.equal(asc.filter.ts, { $gte: at(T), $lt: at(T + 3_600_000) });
  const desc = rawFind({ ...range, order: 'desc', limit: 5, after: { ts: T + 7_200_000, key: 'a' } });
  assert.equal(desc.filter.ts, { $gte: at(T), $lt: at(T + 3_600_000) });
});

reads('documents read back become stored values and buckets with epoch ms', () => {
  assert.equal(storedValue({ ts: at(T), meta: { k: 'a' }, v: false }), { key: 'a', ts: T, value: false });
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
      { $match: { 'meta.d': D, ts: { $gte: at(T), $lt: at(T + 3_600_000) }, 'meta.k': { $in: ['temp'] } } },
      {
        $group: {
          _id: { k: '$meta.k', t: { $dateTrunc: { date: '$ts', unit: 'hour', binSize: 1 } } },
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
    { $match: { 'meta.d': D, ts: { $gte: at(T), $lt: at(T + 3_600_000) } } },
    { $group: { _id: { k: '$meta.k', t: arithmetic(420_000) }, count: { $sum: 1 } } },
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

const latestAndDeletes = suite('mongo queries: latest and deletes');

latestAndDeletes('latest: sort by meta then newest first, $first per key, ordered by key', () => {
  const tail = [
    { $sort: { 'meta.d': 1, 'meta.k': 1, ts: -1 } },
    { $group: { _id: '$meta.k', ts: { $first: '$ts' }, v: { $first: '$v' } } },
    { $sort: { _id: 1 } },
  ];
  assert.equal(latestPipeline(D), [{ $match: { 'meta.d': D } }, ...tail]);
  assert.equal(latestPipeline(D, []), [{ $match: { 'meta.d': D } }, ...tail]);
  assert.equal(latestPipeline(D, ['a', 'b']), [{ $match: { 'meta.d': D, 'meta.k': { $in: ['a', 'b'] } } }, ...tail]);
});

latestAndDeletes('deleteRange filters on device, keys and whichever bounds are given', () => {
  assert.equal(deleteRangeFilter({ deviceId: D }), { 'meta.d': D });
  assert.equal(deleteRangeFilter({ deviceId: D, keys: [] }), { 'meta.d': D });
  assert.equal(deleteRangeFilter({ deviceId: D, keys: ['a'], from: T, to: T + 1000 }), {
    'meta.d': D,
    'meta.k': { $in: ['a'] },
    ts: { $gte: at(T), $lt: at(T + 1000) },
  });
  assert.equal(deleteRangeFilter({ deviceId: D, from: T }), { 'meta.d': D, ts: { $gte: at(T) } });
  assert.equal(deleteRangeFilter({ deviceId: D, to: T }), { 'meta.d': D, ts: { $lt: at(T) } });
});

latestAndDeletes('deleteDevice filters points by meta.d and markers by d', () => {
  assert.equal(devicePointsFilter(D), { 'meta.d': D });
  assert.equal(deviceMarkersFilter(D), { d: D });
});

latestAndDeletes.run();

/**
 * Everything the MongoDB telemetry adapter (mongo.ts) sends, built by pure functions with no connection:
 * collection options, indexes, documents, filters and pipelines. No MongoDB server runs where the tests run,
 * so test/mongo-queries.test.ts checks these structures exactly and stands in for the adapter.
 *
 * Points live in a normal collection, one document per value, unique per device, key and time:
 *   { d: deviceId, k: key, ts: Date, v: value }
 * Writing a point again updates its document in place (an upsert): last write wins without the delete and
 * re-insert a time-series collection would need, which MongoDB 7.0+ mishandles (SERVER-99527: with the default
 * `{meta, ts}` index, TTL may drop the re-inserted documents early and time-filtered queries may miss them).
 * Rollups per minute and per hour, one document per device, key and bucket start:
 *   { d, k, b: Date, count, numCount, sum?, min?, max? }   (sum/min/max only once a number came)
 * Message ids already stored live in a normal collection with a TTL index:
 *   { _id: messageId, d: deviceId, at: Date }
 *
 * Needs MongoDB 5.0 or later ($dateTrunc); TTL indexes do retention for all three.
 */
import type { AnyBulkWriteOperation, CreateCollectionOptions, Document, Filter, IndexDescription, Sort } from 'mongodb';
import type {
  Aggregation,
  AggregateQuery,
  Bucket,
  RawQuery,
  StoredValue,
  TelemetryMessage,
  TelemetryValue,
} from '../../ports/telemetry-store.ts';

export interface PointDocument {
  d: string;
  k: string;
  ts: Date;
  v: TelemetryValue;
}

/** A rollup bucket as stored: sum, min and max are absent until a number came (numCount > 0). */
export interface RollupDocument {
  d: string;
  k: string;
  b: Date;
  count: number;
  numCount: number;
  sum?: number;
  min?: number;
  max?: number;
}

export interface MessageMarker {
  _id: string;
  d: string;
  at: Date;
}

/**
 * `telemetry_points`, not `telemetry`: the adapter before rollups kept points in a time-series collection called
 * `telemetry`, which `legacyCopyPipeline` copies from once (mongo.ts prepare).
 */
export const defaultCollection = 'telemetry_points';
export const legacyCollection = 'telemetry';

/** The markers' collection beside a points collection: `telemetry_points` → `telemetry_points_messages`. */
export const markersCollection = (points: string): string => `${points}_messages`;

/** The rollup collections beside a points collection, finest first. */
export const rollupLevels = [
  { suffix: '_rollup_1m', widthMs: 60_000 },
  { suffix: '_rollup_1h', widthMs: 3_600_000 },
] as const;

export type RollupLevel = (typeof rollupLevels)[number];

export const rollupCollection = (points: string, level: RollupLevel): string => `${points}${level.suffix}`;

const SECONDS_PER_DAY = 86_400;

/** Whole seconds, as TTL settings need; retention must be positive (TTL cannot mean "keep forever"). */
export function retentionSeconds(retentionDays: number): number {
  const seconds = Math.round(retentionDays * SECONDS_PER_DAY);
  if (!Number.isFinite(retentionDays) || seconds < 1) {
    throw new RangeError(`retentionDays must be a positive number, not ${retentionDays}`);
  }
  return seconds;
}

const POINT_TTL_INDEX = 'ts_ttl';
const MARKER_TTL_INDEX = 'stored_at_ttl';
const ROLLUP_TTL_INDEX = 'b_ttl';

/**
 * The points' indexes: one document per device, key and time (the upsert's key, and reads of given keys and the
 * latest value per key), reads of all keys of a device in time order, and retention (TTL counts from `ts`).
 */
export function pointIndexes(retentionDays: number): IndexDescription[] {
  return [
    { key: { d: 1, k: 1, ts: 1 }, name: 'device_key_ts', unique: true },
    { key: { d: 1, ts: 1 }, name: 'device_ts' },
    { key: { ts: 1 }, name: POINT_TTL_INDEX, expireAfterSeconds: retentionSeconds(retentionDays) },
  ];
}

/** One document per device, key and bucket start, which the merge upserts on; retention from `b`. */
export function rollupIndexes(rollupRetentionDays: number): IndexDescription[] {
  return [
    { key: { d: 1, k: 1, b: 1 }, name: 'device_key_bucket', unique: true },
    { key: { b: 1 }, name: ROLLUP_TTL_INDEX, expireAfterSeconds: retentionSeconds(rollupRetentionDays) },
  ];
}

/** createIndex refuses an existing TTL index with another expiry; collMod changes it in place. */
export function ttlCommand(collection: string, index: 'points' | 'rollups' | 'markers', retentionDays: number): Document {
  const name = { points: POINT_TTL_INDEX, rollups: ROLLUP_TTL_INDEX, markers: MARKER_TTL_INDEX }[index];
  return { collMod: collection, index: { name, expireAfterSeconds: retentionSeconds(retentionDays) } };
}


/** A marker is kept as long as the points (a redelivery later than that finds nothing to duplicate). */
export function markerIndexes(retentionDays: number): IndexDescription[] {
  return [
    { key: { at: 1 }, name: MARKER_TTL_INDEX, expireAfterSeconds: retentionSeconds(retentionDays) },
    { key: { d: 1 }, name: 'device' },
  ];
}


/** Messages with an id seen earlier in the same list are dropped: they are duplicates of the first. */
export function uniqueMessages(messages: readonly TelemetryMessage[]): TelemetryMessage[] {
  const seen = new Set<string>();
  return messages.filter((message) => {
    if (seen.has(message.messageId)) return false;
    seen.add(message.messageId);
    return true;
  });
}

export function markerLookup(messageIds: readonly string[]): Filter<MessageMarker> {
  return { _id: { $in: [...messageIds] } };
}

export function markerDocuments(messages: readonly TelemetryMessage[], at: Date): MessageMarker[] {
  return messages.map((message) => ({ _id: message.messageId, d: message.deviceId, at }));
}

/**
 * One document per value, in message order; when the same device, key and time comes twice, the later value
 * is the one kept (last write wins within a call as across calls).
 */
export function pointDocuments(messages: readonly TelemetryMessage[]): PointDocument[] {
  const byPoint = new Map<string, PointDocument>();
  for (const message of messages) {
    for (const point of message.points) {
      for (const [key, value] of Object.entries(point.values)) {
        if (typeof value !== 'number' && typeof value !== 'boolean' && typeof value !== 'string') {
          throw new TypeError(`telemetry value of ${key} must be a number, boolean or string, not ${typeof value}`);
        }
        const id = `${message.deviceId}\u0000${key}\u0000${point.ts}`;
        byPoint.delete(id);
        byPoint.set(id, { d: message.deviceId, k: key, ts: new Date(point.ts), v: value });
      }
    }
  }
  return [...byPoint.values()];
}

/**
 * Each point as an upsert on its device, key and time: inserted when new, its value replaced when stored
 * before. Unordered, so one failure does not stop the rest; the result's upsertedIds say which were new.
 */
export function pointUpserts(docs: readonly PointDocument[]): AnyBulkWriteOperation<PointDocument>[] {
  return docs.map((doc) => ({
    updateOne: { filter: { d: doc.d, k: doc.k, ts: doc.ts }, update: { $set: { v: doc.v } }, upsert: true },
  }));
}

/** A bucket's partial aggregate: what a rollup document holds, and what a query combines. */
export interface Partial {
  key: string;
  /** Bucket start, ms. */
  ts: number;
  count: number;
  numCount: number;
  sum: number | null;
  min: number | null;
  max: number | null;
}

/** The partials of the given points per key and bucket of `widthMs` (epoch-aligned), keyed by device too. */
export function partialsOf(docs: readonly PointDocument[], widthMs: number): Array<Partial & { deviceId: string }> {
  const groups = new Map<string, Partial & { deviceId: string }>();
  for (const doc of docs) {
    const ts = Math.floor(doc.ts.getTime() / widthMs) * widthMs;
    const id = `${doc.d}\u0000${doc.k}\u0000${ts}`;
    let group = groups.get(id);
    if (!group) groups.set(id, (group = { deviceId: doc.d, key: doc.k, ts, count: 0, numCount: 0, sum: null, min: null, max: null }));
    group.count += 1;
    if (typeof doc.v === 'number') {
      group.numCount += 1;
      group.sum = (group.sum ?? 0) + doc.v;
      group.min = group.min === null ? doc.v : Math.min(group.min, doc.v);
      group.max = group.max === null ? doc.v : Math.max(group.max, doc.v);
    }
  }
  return [...groups.values()];
}

/**
 * New points added to a level's buckets: $inc of the counts and sum, $min/$max, each one atomic upsert on the
 * bucket's document, so concurrent writers add up without a lock. Sorted, as every writer sends them.
 */
export function rollupMerges(docs: readonly PointDocument[], level: RollupLevel): AnyBulkWriteOperation<RollupDocument>[] {
  return partialsOf(docs, level.widthMs)
    .sort(comparePartials)
    .map((p) => {
      const update: Document = { $inc: { count: p.count, numCount: p.numCount } };
      if (p.sum !== null) {
        update.$inc.sum = p.sum;
        update.$min = { min: p.min };
        update.$max = { max: p.max };
      }
      return { updateOne: { filter: { d: p.deviceId, k: p.key, b: new Date(p.ts) }, update, upsert: true } };
    });
}

const comparePartials = (a: Partial & { deviceId: string }, b: Partial & { deviceId: string }): number =>
  a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : a.ts - b.ts;

/** A level's buckets to rebuild, as device, key and bucket start (ms). */
export interface RollupCell {
  deviceId: string;
  key: string;
  bucket: number;
}

/**
 * The pipeline that sums a level's cells up from its source (the points for minutes, the minutes for hours):
 * one document per non-empty cell, { _id: { d, k, b }, count, numCount, sum, min, max }; sum/min/max are null
 * where no number came.
 */
export function rebuildPipeline(level: RollupLevel, cells: readonly RollupCell[]): Document[] {
  const at = fromPoints(level) ? 'ts' : 'b';
  const clauses = cells.map((c) => ({ d: c.deviceId, k: c.key, [at]: { $gte: new Date(c.bucket), $lt: new Date(c.bucket + level.widthMs) } }));
  return [{ $match: clauses.length === 1 ? clauses[0]! : { $or: clauses } }, rollupGroupStage(level)];
}

const fromPoints = (level: RollupLevel): boolean => level.widthMs === rollupLevels[0].widthMs;

/** A level's buckets summed up from its source's documents: the points for minutes, the minutes for hours. */
function rollupGroupStage(level: RollupLevel): Document {
  const sums: Document = fromPoints(level)
    ? {
        count: { $sum: 1 },
        numCount: { $sum: { $cond: [{ $isNumber: '$v' }, 1, 0] } },
        sum: { $sum: numericValue },
        min: { $min: numericValue },
        max: { $max: numericValue },
      }
    : { count: { $sum: '$count' }, numCount: { $sum: '$numCount' }, sum: { $sum: '$sum' }, min: { $min: '$min' }, max: { $max: '$max' } };
  return { $group: { _id: { d: '$d', k: '$k', b: bucketStart(level.widthMs, fromPoints(level) ? '$ts' : '$b') }, ...sums } };
}

/**
 * What a rebuild writes: each cell set to what its source summed up to (replaced whole), or removed where the
 * source held nothing. `found` are rebuildPipeline's documents.
 */
export function rebuildWrites(
  cells: readonly RollupCell[],
  found: ReadonlyArray<{ _id: { d: string; k: string; b: Date }; count: number; numCount: number; sum: number | null; min: number | null; max: number | null }>,
): AnyBulkWriteOperation<RollupDocument>[] {
  const byCell = new Map(found.map((f) => [`${f._id.d}\u0000${f._id.k}\u0000${f._id.b.getTime()}`, f]));
  const seen = new Set<string>();
  const writes: AnyBulkWriteOperation<RollupDocument>[] = [];
  for (const cell of cells) {
    const id = `${cell.deviceId}\u0000${cell.key}\u0000${cell.bucket}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const filter = { d: cell.deviceId, k: cell.key, b: new Date(cell.bucket) };
    const f = byCell.get(id);
    if (!f) {
      writes.push({ deleteOne: { filter } });
      continue;
    }
    const replacement: RollupDocument = { ...filter, count: f.count, numCount: f.numCount };
    if (f.numCount > 0) Object.assign(replacement, { sum: f.sum, min: f.min, max: f.max });
    writes.push({ replaceOne: { filter, replacement, upsert: true } });
  }
  return writes;
}

/**
 * A device's documents of a level (or of the points: `level` undefined) in [from, to) as partials grouped into
 * the query's buckets: { _id: { k, t }, count, numCount, sum, min, max }.
 */
export function partialsPipeline(query: AggregateQuery, level: RollupLevel | undefined, from: number, to: number): Document[] {
  const at = level ? 'b' : 'ts';
  const match: Document = { d: query.deviceId, [at]: { $gte: new Date(from), $lt: new Date(to) } };
  if (query.keys?.length) match.k = { $in: [...query.keys] };
  // The sums of the level above (hours from minutes, minutes from points), grouped by the query's bucket instead.
  const { $group: sums } = rollupGroupStage(level ? rollupLevels[1] : rollupLevels[0]) as { $group: Document };
  return [{ $match: match }, { $group: { ...sums, _id: { k: '$k', t: bucketStart(query.intervalMs, `$${at}`) } } }];
}

export type PartialDocument = { _id: { k: string; t: Date }; count: number; numCount: number; sum: number | null; min: number | null; max: number | null };

/**
 * The buckets the port defines from partials of the same interval (from rollups and from points at the cut
 * ends): added up per key and bucket, then the aggregation; ordered by key (bytewise) then bucket start.
 */
export function combinePartials(parts: readonly PartialDocument[], agg: Aggregation): Bucket[] {
  const groups = new Map<string, Partial>();
  for (const part of parts) {
    const ts = part._id.t.getTime();
    const id = `${part._id.k}\u0000${ts}`;
    let group = groups.get(id);
    if (!group) groups.set(id, (group = { key: part._id.k, ts, count: 0, numCount: 0, sum: null, min: null, max: null }));
    group.count += part.count;
    if (part.numCount > 0) {
      group.numCount += part.numCount;
      group.sum = (group.sum ?? 0) + (part.sum ?? 0);
      group.min = group.min === null || (part.min !== null && part.min < group.min) ? part.min : group.min;
      group.max = group.max === null || (part.max !== null && part.max > group.max) ? part.max : group.max;
    }
  }
  return [...groups.values()]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.ts - b.ts))
    .map((g) => ({
      key: g.key,
      ts: g.ts,
      count: g.count,
      value: agg === 'count' ? g.count : g.numCount === 0 ? null : agg === 'avg' ? g.sum! / g.numCount : g[agg],
    }));
}

/**
 * The time-series collection of the adapter before rollups, copied into the points collection: each value
 * once per device, key and time (a time-series collection may hold a rewritten point twice; the last one
 * written wins, as it would have on a read).
 */
export function legacyCopyPipeline(pointsCollection: string): Document[] {
  return [
    { $project: { _id: 0, d: '$meta.d', k: '$meta.k', ts: 1, v: 1 } },
    { $merge: { into: pointsCollection, on: ['d', 'k', 'ts'], whenMatched: 'replace', whenNotMatched: 'insert' } },
  ];
}

/** Rebuilds a level from its source over everything: after the legacy copy, the rollups of what was copied. */
export function rollupAllPipeline(level: RollupLevel, into: string): Document[] {
  return [
    rollupGroupStage(level),
    { $project: { _id: 0, d: '$_id.d', k: '$_id.k', b: '$_id.b', count: 1, numCount: 1, sum: 1, min: 1, max: 1 } },
    { $merge: { into, on: ['d', 'k', 'b'], whenMatched: 'replace', whenNotMatched: 'insert' } },
  ];
}

export interface FindSpec {
  filter: Filter<PointDocument>;
  sort: Sort;
  limit: number;
  projection: Document;
}

/**
 * Keyset pagination on (ts, key). The bound on `ts` is narrowed to the `after` position (ts ≥ after.ts
 * ascending, ts ≤ after.ts descending) so buckets are pruned by time; ties at after.ts then go by key.
 * Keys compare bytewise (MongoDB's default), as the PostgreSQL adapter's `COLLATE "C"`.
 */
export function rawFind(query: RawQuery): FindSpec {
  const asc = query.order === 'asc';
  let from = query.from;
  let to = query.to;
  if (query.after && asc) from = Math.max(from, query.after.ts);
  // BSON dates are whole milliseconds, so ts ≤ after.ts is ts < after.ts + 1.
  if (query.after && !asc) to = Math.min(to, query.after.ts + 1);
  const filter: Filter<PointDocument> = {
    d: query.deviceId,
    ts: { $gte: new Date(from), $lt: new Date(to) },
  };
  if (query.keys?.length) filter.k = { $in: [...query.keys] };
  if (query.after) {
    const op = asc ? '$gt' : '$lt';
    filter.$or = [{ ts: { [op]: new Date(query.after.ts) } }, { k: { [op]: query.after.key } }];
  }
  const dir = asc ? 1 : -1;
  return {
    filter,
    sort: { ts: dir, k: dir },
    limit: query.limit,
    projection: { _id: 0, ts: 1, k: 1, v: 1 },
  };
}

export function storedValue(doc: { ts: Date; k: string; v: TelemetryValue }): StoredValue {
  return { key: doc.k, ts: doc.ts.getTime(), value: doc.v };
}

/** Start of the first $dateTrunc bin: bins of binSize units are counted from here, not from the epoch. */
export const DATE_TRUNC_REFERENCE_MS = Date.UTC(2000, 0, 1);

const units = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1_000],
] as const;

export function assertInterval(intervalMs: number): void {
  if (!Number.isSafeInteger(intervalMs) || intervalMs <= 0) {
    throw new RangeError(`intervalMs must be a positive whole number of milliseconds, not ${intervalMs}`);
  }
}

/**
 * The bucket start of `$ts`, a Date at a multiple of intervalMs since the epoch.
 *
 * `$dateTrunc` with the largest unit that divides the interval when its bins line up with the epoch's:
 * they count from 2000-01-01T00:00Z (946,684,800,000 ms after the epoch, 10,957 days), so they line up
 * exactly when the interval divides that span, which every interval dividing a day does. Others (7 minutes,
 * 2 days, a week, 500 ms) use arithmetic on epoch milliseconds instead; the double `$mod` floors rather than
 * truncates, so times before 1970 land in the right bucket too.
 */
export function bucketStart(intervalMs: number, field = '$ts'): Document {
  assertInterval(intervalMs);
  const unit = units.find(([, ms]) => intervalMs % ms === 0);
  if (unit && DATE_TRUNC_REFERENCE_MS % intervalMs === 0) {
    return { $dateTrunc: { date: field, unit: unit[0], binSize: intervalMs / unit[1] } };
  }
  const ms = { $toLong: field };
  const offset = { $mod: [{ $add: [{ $mod: [ms, intervalMs] }, intervalMs] }, intervalMs] };
  return { $toDate: { $subtract: [ms, offset] } };
}

/** `$v` when it is a number, else null, which $avg/$min/$max/$sum skip. */
const numericValue = { $cond: [{ $isNumber: '$v' }, '$v', null] };

/** One document per key and bucket: { key, ts: Date, value, count }, ordered by key then bucket start. */
export function aggregatePipeline(query: AggregateQuery): Document[] {
  const match: Document = { d: query.deviceId, ts: { $gte: new Date(query.from), $lt: new Date(query.to) } };
  if (query.keys?.length) match.k = { $in: [...query.keys] };
  const group: Document = { _id: { k: '$k', t: bucketStart(query.intervalMs) }, count: { $sum: 1 } };
  let value: unknown = '$count';
  if (query.agg !== 'count') {
    group.value = { [`$${query.agg}`]: numericValue };
    group.numeric = { $sum: { $cond: [{ $isNumber: '$v' }, 1, 0] } };
    // $sum of nothing is 0, not null: a bucket without numbers must say null.
    value = { $cond: [{ $gt: ['$numeric', 0] }, '$value', null] };
  }
  return [
    { $match: match },
    { $group: group },
    { $sort: { '_id.k': 1, '_id.t': 1 } },
    { $project: { _id: 0, key: '$_id.k', ts: '$_id.t', value, count: 1 } },
  ];
}

export function bucket(doc: { key: string; ts: Date; value: number | null; count: number }): Bucket {
  return { key: doc.key, ts: doc.ts.getTime(), value: doc.value, count: doc.count };
}

/**
 * The newest value per key: $sort on device, key and time, then $group with $first, is the shape
 * MongoDB answers with a DISTINCT_SCAN of the (d, k, ts) index: one index probe per key, not every document.
 */
export function latestPipeline(deviceId: string, keys?: readonly string[]): Document[] {
  const match: Document = { d: deviceId };
  if (keys?.length) match.k = { $in: [...keys] };
  return [
    { $match: match },
    { $sort: { d: 1, k: 1, ts: -1 } },
    { $group: { _id: '$k', ts: { $first: '$ts' }, v: { $first: '$v' } } },
    { $sort: { _id: 1 } },
  ];
}

export function latestValue(doc: { _id: string; ts: Date; v: TelemetryValue }): StoredValue {
  return { key: doc._id, ts: doc.ts.getTime(), value: doc.v };
}

/**
 * A device's documents in [from, to) of some keys (all when none), on the points' time (`ts`) or a rollup's
 * bucket start (`b`): what deleteRange removes, and the rollup buckets it then rebuilds or removes.
 */
export function deleteRangeFilter(
  query: { deviceId: string; keys?: readonly string[]; from?: number; to?: number },
  at: 'ts' | 'b' = 'ts',
): Document {
  const filter: Document = { d: query.deviceId };
  if (query.keys?.length) filter.k = { $in: [...query.keys] };
  const range: Document = {};
  if (query.from !== undefined) range.$gte = new Date(query.from);
  if (query.to !== undefined) range.$lt = new Date(query.to);
  if (Object.keys(range).length > 0) filter[at] = range;
  return filter;
}

export function devicePointsFilter(deviceId: string): Filter<PointDocument> {
  return { d: deviceId };
}

export function deviceMarkersFilter(deviceId: string): Filter<MessageMarker> {
  return { d: deviceId };
}

/**
 * Whether an insertMany error is only duplicate keys (11000): markers another writer stored first,
 * which is the outcome wanted anyway. The shape is MongoBulkWriteError's, read structurally so it can be
 * tested without a server.
 */
export function onlyDuplicateKeys(error: unknown): boolean {
  const bulk = error as {
    writeErrors?: unknown;
    result?: { getWriteConcernError?: () => unknown };
  } | null;
  const writeErrors = bulk?.writeErrors;
  const list = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
  return (
    list.length > 0 &&
    list.every((entry) => (entry as { code?: unknown }).code === 11000) &&
    // A write concern error means the inserted markers may not be durable: not ours to swallow.
    !bulk?.result?.getWriteConcernError?.()
  );
}

/**
 * Everything the MongoDB telemetry adapter (mongo.ts) sends, built by pure functions with no connection:
 * collection options, indexes, documents, filters and pipelines. No MongoDB server runs where the tests run,
 * so test/mongo-queries.test.ts checks these structures exactly and stands in for the adapter.
 *
 * Points live in a time-series collection, one document per value:
 *   { ts: Date, meta: { d: deviceId, k: key }, v: value }
 * Message ids already stored live in a normal collection with a TTL index:
 *   { _id: messageId, d: deviceId, at: Date }
 *
 * Deletes and updates filtered on `ts` in a time-series collection need MongoDB 7.0 or later.
 */
import type { CreateCollectionOptions, Document, Filter, IndexDescription, Sort } from 'mongodb';
import type {
  AggregateQuery,
  Bucket,
  RawQuery,
  StoredValue,
  TelemetryMessage,
  TelemetryValue,
} from '../../ports/telemetry-store.ts';

export interface PointDocument {
  ts: Date;
  meta: { d: string; k: string };
  v: TelemetryValue;
}

export interface MessageMarker {
  _id: string;
  d: string;
  at: Date;
}

export const defaultCollection = 'telemetry';

/** The markers' collection beside a points collection: `telemetry` → `telemetry_messages`. */
export const markersCollection = (points: string): string => `${points}_messages`;

const SECONDS_PER_DAY = 86_400;

/** Whole seconds, as TTL settings need; retention must be positive (TTL cannot mean "keep forever"). */
export function retentionSeconds(retentionDays: number): number {
  const seconds = Math.round(retentionDays * SECONDS_PER_DAY);
  if (!Number.isFinite(retentionDays) || seconds < 1) {
    throw new RangeError(`retentionDays must be a positive number, not ${retentionDays}`);
  }
  return seconds;
}

/**
 * Granularity 'seconds': devices report every few seconds to minutes, and this granularity keeps a bucket
 * within one hour of one device's key, so range reads unpack little beyond what they asked for. It is also
 * the finest: MongoDB can raise a collection's granularity later (collMod) but never lower it.
 * TTL counts from each document's `ts`, which is what retention means for telemetry.
 */
export function pointCollectionOptions(retentionDays: number): CreateCollectionOptions {
  return {
    timeseries: { timeField: 'ts', metaField: 'meta', granularity: 'seconds' },
    expireAfterSeconds: retentionSeconds(retentionDays),
  };
}

/** For a collection that already exists: retention may have changed since it was created. */
export function pointRetentionCommand(collection: string, retentionDays: number): Document {
  return { collMod: collection, expireAfterSeconds: retentionSeconds(retentionDays) };
}

/** Reads of given keys (and the latest value per key), and reads of all keys of a device in time order. */
export const pointIndexes: IndexDescription[] = [
  { key: { 'meta.d': 1, 'meta.k': 1, ts: 1 }, name: 'device_key_ts' },
  { key: { 'meta.d': 1, ts: 1 }, name: 'device_ts' },
];

const MARKER_TTL_INDEX = 'stored_at_ttl';

/** A marker is kept as long as the points (a redelivery later than that finds nothing to duplicate). */
export function markerIndexes(retentionDays: number): IndexDescription[] {
  return [
    { key: { at: 1 }, name: MARKER_TTL_INDEX, expireAfterSeconds: retentionSeconds(retentionDays) },
    { key: { d: 1 }, name: 'device' },
  ];
}

/** createIndex refuses an existing TTL index with another expiry; collMod changes it in place. */
export function markerRetentionCommand(collection: string, retentionDays: number): Document {
  return {
    collMod: collection,
    index: { name: MARKER_TTL_INDEX, expireAfterSeconds: retentionSeconds(retentionDays) },
  };
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
        byPoint.set(id, { ts: new Date(point.ts), meta: { d: message.deviceId, k: key }, v: value });
      }
    }
  }
  return [...byPoint.values()];
}

/**
 * The stored documents that `docs` replace. A time-series collection takes no unique index, so last write
 * wins by deleting what is at the same device, key and time before inserting. One clause per device and key
 * (a bucket's meta); the time range lets MongoDB skip buckets by their min/max before testing `$in`.
 * Undefined when there is nothing to replace.
 */
export function overwriteFilter(docs: readonly PointDocument[]): Filter<PointDocument> | undefined {
  const groups = new Map<string, { d: string; k: string; times: number[] }>();
  for (const doc of docs) {
    const id = `${doc.meta.d}\u0000${doc.meta.k}`;
    let group = groups.get(id);
    if (!group) groups.set(id, (group = { d: doc.meta.d, k: doc.meta.k, times: [] }));
    group.times.push(doc.ts.getTime());
  }
  if (groups.size === 0) return undefined;
  const clauses = [...groups.values()].map(({ d, k, times }) => {
    const sorted = [...new Set(times)].sort((a, b) => a - b);
    return {
      'meta.d': d,
      'meta.k': k,
      ts: { $gte: new Date(sorted[0]!), $lte: new Date(sorted[sorted.length - 1]!), $in: sorted.map((t) => new Date(t)) },
    };
  });
  return clauses.length === 1 ? clauses[0]! : { $or: clauses };
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
    'meta.d': query.deviceId,
    ts: { $gte: new Date(from), $lt: new Date(to) },
  };
  if (query.keys?.length) filter['meta.k'] = { $in: [...query.keys] };
  if (query.after) {
    const op = asc ? '$gt' : '$lt';
    filter.$or = [{ ts: { [op]: new Date(query.after.ts) } }, { 'meta.k': { [op]: query.after.key } }];
  }
  const dir = asc ? 1 : -1;
  return {
    filter,
    sort: { ts: dir, 'meta.k': dir },
    limit: query.limit,
    projection: { _id: 0, ts: 1, 'meta.k': 1, v: 1 },
  };
}

export function storedValue(doc: { ts: Date; meta: { k: string }; v: TelemetryValue }): StoredValue {
  return { key: doc.meta.k, ts: doc.ts.getTime(), value: doc.v };
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
export function bucketStart(intervalMs: number): Document {
  assertInterval(intervalMs);
  const unit = units.find(([, ms]) => intervalMs % ms === 0);
  if (unit && DATE_TRUNC_REFERENCE_MS % intervalMs === 0) {
    return { $dateTrunc: { date: '$ts', unit: unit[0], binSize: intervalMs / unit[1] } };
  }
  const ms = { $toLong: '$ts' };
  const offset = { $mod: [{ $add: [{ $mod: [ms, intervalMs] }, intervalMs] }, intervalMs] };
  return { $toDate: { $subtract: [ms, offset] } };
}

/** `$v` when it is a number, else null, which $avg/$min/$max/$sum skip. */
const numericValue = { $cond: [{ $isNumber: '$v' }, '$v', null] };

/** One document per key and bucket: { key, ts: Date, value, count }, ordered by key then bucket start. */
export function aggregatePipeline(query: AggregateQuery): Document[] {
  const match: Document = { 'meta.d': query.deviceId, ts: { $gte: new Date(query.from), $lt: new Date(query.to) } };
  if (query.keys?.length) match['meta.k'] = { $in: [...query.keys] };
  const group: Document = { _id: { k: '$meta.k', t: bucketStart(query.intervalMs) }, count: { $sum: 1 } };
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
 * The newest value per key: $sort on the meta fields and time, then $group with $first, is the shape
 * MongoDB rewrites for time-series collections to read one bucket per key instead of every document.
 */
export function latestPipeline(deviceId: string, keys?: readonly string[]): Document[] {
  const match: Document = { 'meta.d': deviceId };
  if (keys?.length) match['meta.k'] = { $in: [...keys] };
  return [
    { $match: match },
    { $sort: { 'meta.d': 1, 'meta.k': 1, ts: -1 } },
    { $group: { _id: '$meta.k', ts: { $first: '$ts' }, v: { $first: '$v' } } },
    { $sort: { _id: 1 } },
  ];
}

export function latestValue(doc: { _id: string; ts: Date; v: TelemetryValue }): StoredValue {
  return { key: doc._id, ts: doc.ts.getTime(), value: doc.v };
}

export function deleteRangeFilter(query: {
  deviceId: string;
  keys?: readonly string[];
  from?: number;
  to?: number;
}): Filter<PointDocument> {
  const filter: Filter<PointDocument> = { 'meta.d': query.deviceId };
  if (query.keys?.length) filter['meta.k'] = { $in: [...query.keys] };
  const ts: Document = {};
  if (query.from !== undefined) ts.$gte = new Date(query.from);
  if (query.to !== undefined) ts.$lt = new Date(query.to);
  if (Object.keys(ts).length > 0) filter.ts = ts;
  return filter;
}

export function devicePointsFilter(deviceId: string): Filter<PointDocument> {
  return { 'meta.d': deviceId };
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
